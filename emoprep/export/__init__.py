"""Exports of a finished run, read from its stores (no stage re-runs).

- :mod:`emoprep.export.padded`: ``emoprep export``, one padded HDF5 file per split part;
- :mod:`emoprep.export.frame_csv`: ``emoprep export --format csv``, one OpenFace-like CSV per video.

This package sits in the consumer layer (docs/ARCHITECTURE.md, "Layers"): it reads the stores
through :mod:`emoprep.data` and :mod:`emoprep.io`, and the engine (:mod:`emoprep.pipeline`)
never imports it.
"""

"""The manifest (``data_manifest.yaml``): schema and loading, naming rules, presets, discovery.

- :mod:`.schema`: the :class:`Manifest` model, :func:`load_manifest` with ``--set`` overrides
- :mod:`.errors`: one problem line per bad key (YAML positions, did-you-mean)
- :mod:`.labels` / :mod:`.presets`: naming rules that turn paths into ids, subjects and labels
- :mod:`.discovery`: the videos a manifest selects
"""

from emoprep.pipeline.manifest.discovery import Discovery, discover_videos
from emoprep.pipeline.manifest.schema import (
    Manifest,
    VideosSection,
    apply_overrides,
    load_manifest,
    manifest_from_dict,
    manifest_problems,
)

__all__ = ["Discovery", "Manifest", "VideosSection", "apply_overrides", "discover_videos",
           "load_manifest", "manifest_from_dict", "manifest_problems"]

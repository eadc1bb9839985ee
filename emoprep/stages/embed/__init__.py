"""Per-frame feature extractors ("embedders") over aligned crops, and offline augmentations."""

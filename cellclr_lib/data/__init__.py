"""Data layer: metadata, download, the synthetic stand-in, preparation (crops) and the crop store."""

"""Baselines that produce per-cell features in the same format as SimCLR embeddings."""

"""Torch-free catalogue: one module per family with its frozen config, variants and specs."""

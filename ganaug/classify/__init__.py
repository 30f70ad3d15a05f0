"""Classifiers and how they learn from mixed batches: the networks, the training loop, the synthetic-aware loss,
split batch norm, batch-level mixup/CutMix, image metrics (CAS, FID). Imports base, data and gan."""

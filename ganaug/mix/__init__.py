"""Synthetic data in a user's training: SyntheticMix and its plan, sources, samplers and loaders; banks, the
quality filter, class policies; the recipe a tune writes. No Hydra, no Lightning. Imports the layers below."""

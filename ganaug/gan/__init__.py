"""The GAN: networks, DiffAugment, the Lightning module and its callbacks, the generator artifact (export/load),
sampling, and `train(cfg)`. Imports base and data only."""

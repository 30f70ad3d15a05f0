"""The bottom layer: checks, random streams, pixel scales, resources, file writing and locks, plain-data records,
provenance. No torch model, no Lightning, no Hydra composition; every other layer may import it."""

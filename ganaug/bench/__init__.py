"""The downstream-gain benchmark behind `ganaug-bench`."""

"""The commands: thin `@hydra.main` wrappers (ganaug-train, ganaug-sample, ganaug-tune) and how each prints a user
error. The top layer, beside bench."""

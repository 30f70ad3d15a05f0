
# Hydra imports this package to read its configs: the resolvers they use are registered here, so a
# config composed by any means (ganaug-train, hydra.compose in a test or notebook) resolves.
from ganaug.run_record import register_resolvers as _register

_register()

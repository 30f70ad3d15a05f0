# Hydra imports this package to read its configs: the resolvers they use and the schemas the config
# groups list first in their defaults (ganaug/base/config_schema.py) are registered here, so a config
# composed by any means (ganaug-train, hydra.compose in a test or notebook) resolves and is checked.
from hydra.core.config_store import ConfigStore as _ConfigStore

from ganaug.base.config_schema import SCHEMAS as _SCHEMAS
from ganaug.gan.run_record import register_resolvers as _register

_register()
for _group, _name, _node in _SCHEMAS:
    _ConfigStore.instance().store(group=_group, name=_name, node=_node)

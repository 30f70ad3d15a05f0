"""`tune_mix` with settings as keywords, for tests that vary one or two of them."""

from dataclasses import replace

import ganaug
from ganaug import TuneSettings


def tune_mix(generators, train_set, val_set, settings=None, **kw):
    """The suite's shorthand for ganaug.tune_mix: `TuneSettings` fields given as keywords beside out_dir, transform
    and progress, folded into the settings object the real function takes."""
    fields = {k: kw.pop(k) for k in list(kw) if k in TuneSettings.__dataclass_fields__}
    settings = replace(settings or TuneSettings(), **fields)
    return ganaug.tune_mix(generators, train_set, val_set, settings, **kw)

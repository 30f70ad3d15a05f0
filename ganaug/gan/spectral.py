"""Spectral norm (Miyato et al. 2018) as a parametrization, with the arithmetic of torch's old hook.

`torch.nn.utils.spectral_norm` (a forward pre-hook) writes its vectors with ``out=`` and fails
``torch.compile`` and ``vmap``; `torch.nn.utils.parametrizations.spectral_norm` compiles but iterates
in another order and warms up with 15 iterations, so its GANs are not the ones the benchmark
measured. This one does the old hook's operations in the old order (a test holds the two equal bit
for bit), writes its vectors with ``copy_`` (so it runs under ``vmap`` and graph capture), and can
skip the power iteration (`iterating`), which the joint discriminator pass uses in the G step.
Checkpoints written with the old hook load through `upgrade_state_dict`.
"""

from __future__ import annotations

import contextlib
import re

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import parametrize

EPS = 1e-12


class SpectralNorm(nn.Module):
    """weight / sigma, sigma estimated by one power iteration per evaluation in training mode."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        h = weight.shape[0]
        w = weight.numel() // h
        # The old hook's initial vectors, drawn in its order (u, then v) from the global RNG.
        with torch.no_grad():
            self.register_buffer("_u", F.normalize(weight.new_empty(h).normal_(0, 1), dim=0, eps=EPS))
            self.register_buffer("_v", F.normalize(weight.new_empty(w).normal_(0, 1), dim=0, eps=EPS))
        self.iterate = True

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        mat = weight.reshape(weight.shape[0], -1)
        u, v = self._u, self._v
        if self.training and self.iterate:
            with torch.no_grad():
                v = F.normalize(torch.mv(mat.t(), u), dim=0, eps=EPS)
                u = F.normalize(torch.mv(mat, v), dim=0, eps=EPS)
                # New tensors, not the buffers, enter sigma: a second forward before backward then
                # leaves the first one's saved vectors alone (the old hook cloned for this).
                self._u.copy_(u)
                self._v.copy_(v)
        return weight / torch.dot(u, torch.mv(mat, v))


def spectral_norm(module: nn.Module) -> nn.Module:
    """`module` with its weight spectrally normalised (dimension 0, as the old hook for these layers)."""
    if isinstance(module, nn.modules.conv._ConvTransposeNd):  # the old hook took dimension 1 there
        raise TypeError("ganaug's spectral norm takes dimension 0: not for transposed convolutions")
    # unsafe: the safe registration evaluates the parametrization once, which would iterate once.
    parametrize.register_parametrization(module, "weight", SpectralNorm(module.weight), unsafe=True)
    return module


@contextlib.contextmanager
def frozen(net: nn.Module):
    """No power iteration inside: sigma from the current vectors (the G step of the joint D pass). Not
    re-entrant; a frozen forward saves the vectors themselves, so its backward must come before an iterating
    forward (as in the G step)."""
    layers = [m for m in net.modules() if isinstance(m, SpectralNorm)]
    for m in layers:
        m.iterate = False
    try:
        yield
    finally:
        for m in layers:
            m.iterate = True


_OLD = re.compile(r"(.*)\.weight_(orig|u|v)$")
_NEW = {"orig": "parametrizations.weight.original", "u": "parametrizations.weight.0._u",
        "v": "parametrizations.weight.0._v"}


def upgrade_state_dict(state: dict) -> dict:
    """Rename the old hook's keys (`conv.weight_orig`, `_u`, `_v`) to this parametrization's, in place."""
    for key in [k for k in state if _OLD.match(k)]:
        prefix, part = _OLD.match(key).groups()
        state[f"{prefix}.{_NEW[part]}"] = state.pop(key)
    return state

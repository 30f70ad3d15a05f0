"""Whether what a setting asks for is on this machine: the device, and memory or disk for the arrays,
checked before they are allocated.

An extra zero typed into ``n_per_class`` or a bank's ``size`` would otherwise end in an allocator's
traceback, or, where the operating system overcommits, in the job being killed minutes later.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ganaug.errors import ConfigError


def resolve_device(device):
    """A torch.device for a device setting: ``auto`` is CUDA when present, else the CPU; a name torch
    does not know, or CUDA where torch has none, is a `ConfigError` naming the fix."""
    import torch

    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        d = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ConfigError(f"device must be auto, cpu, cuda or cuda:<index>, got {device!r}") from e
    if d.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={device} but torch sees no CUDA device here; use device=auto or device=cpu")
    if d.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError(f"device={device} but torch sees no Apple GPU (MPS) here; use device=auto or device=cpu")
    if d.type not in ("cpu", "cuda", "mps"):  # meta holds no data; the others have no Lightning accelerator here
        raise ConfigError(f"device must be auto, cpu, cuda or cuda:<index>, got {device!r}")
    return d


def available_memory() -> int | None:
    """Bytes of memory a new allocation can take without swapping (Linux: MemAvailable), or None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def free_disk(path: str | os.PathLike) -> int | None:
    """Free bytes on the file system that ``path`` (or its nearest existing parent) is on, or None."""
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return shutil.disk_usage(p).free
    except OSError:
        return None


def _size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def memory_shortfall(nbytes: int) -> str | None:
    """"N once read, but F of memory is free" when ``nbytes`` exceed the free memory; None when they fit (or the
    free memory is unknown). For a reader, whose way out is not a setting to lower (`check_fits`)."""
    free = available_memory()
    if free is None or nbytes <= free:
        return None
    return f"{_size(nbytes)} once read, but {_size(free)} of memory is free"


def check_fits(nbytes: int, setting: str, value: int, disk: str | os.PathLike | None = None, fix: str = "") -> None:
    """Refuse ``setting=value`` by name when its ``nbytes`` exceed the free memory (or, with ``disk``, the
    free space where it is written). Unknown capacity passes."""
    free = available_memory() if disk is None else free_disk(disk)
    if free is None or nbytes <= free:
        return
    where = "memory" if disk is None else f"disk space at {disk}"
    raise ConfigError(f"{setting}={value:,} needs {_size(nbytes)} of {where}, but {_size(free)} is free: "
                      f"lower {setting}{fix}")


def set_tf32(enabled: bool) -> None:
    """TF32 for float32 convolutions and matmuls on CUDA, or full IEEE float32 (``enabled=False``).

    torch turns TF32 on for cuDNN convolutions by default, so a GPU GAN at ``32-true`` was not the CPU's
    recipe: its convolutions ran with 10-bit mantissas. Off until the quality guard says it holds (issue 46).
    Has no effect on the CPU.
    """
    import torch

    precision = "tf32" if enabled else "ieee"
    conv = getattr(getattr(torch.backends.cudnn, "conv", None), "fp32_precision", None)
    if conv is not None:  # torch >= 2.9's API; the older flags below warn there
        torch.backends.cudnn.conv.fp32_precision = precision
        torch.backends.cuda.matmul.fp32_precision = precision
    else:  # pragma: no cover - older torch
        torch.backends.cudnn.allow_tf32 = enabled
        torch.backends.cuda.matmul.allow_tf32 = enabled


def set_threads(cfg: Any) -> None:
    """`threads`: torch threads for this process, or null for torch's default."""
    threads = cfg.get("threads")
    if threads is None:
        return
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"threads must be a positive integer (torch threads), or null for torch's default; "
                          f"got {threads!r}")
    import torch

    torch.set_num_threads(threads)

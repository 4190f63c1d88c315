"""torch's CPU thread count, chosen once per run (``--threads``).

torch starts one intra-op thread per core. Next to the sandbox's tool workers and other
processes that oversubscribes a small machine: measured on a loaded 2-core machine, one
thread ran a tiny-model training step several times faster than two (docs/training.md,
"Threads"). The automatic choice therefore leaves half of the cores to the rest.
"""

from __future__ import annotations

import os
import sys


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def auto_threads(cores: int | None = None) -> int:
    """The automatic thread count: half of the cores, at least 1 (2 cores -> 1)."""
    return max(1, (cores if cores is not None else available_cores()) // 2)


def set_threads(threads: int) -> int | None:
    """Set torch's intra-op threads to ``threads`` (0: :func:`auto_threads`); return the count.

    With 0 it does nothing (returns None) when ``OMP_NUM_THREADS`` is set (the user chose)
    or torch is not imported yet (backends that never load torch never pay for importing
    it); nor when torch is not installed.
    """
    if threads < 0:
        from .errors import ConfigError

        raise ConfigError(f"threads: must be 0 (automatic) or more (got {threads})")
    if threads == 0 and ("torch" not in sys.modules or os.environ.get("OMP_NUM_THREADS")):
        return None
    try:
        import torch
    except ImportError:
        return None
    count = threads or auto_threads()
    torch.set_num_threads(count)
    return count

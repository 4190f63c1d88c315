"""Training under ``accelerate launch``: which process writes, what a run records about its ranks.

Every rank runs the same ``toolfeedback train``; TRL/accelerate split the batches. Only
the main process writes files (``train_config.json``, ``metrics.jsonl``, DPO's
``preferences.jsonl``, the tokenizer); the model is saved through ``Trainer.save_model``
on every rank, since DeepSpeed ZeRO-3 and FSDP gather the shards collectively.

After training every rank reports what it did (:func:`gather_ranks`, a collective); the
``train_metrics`` plugin writes that as the last line of ``metrics.jsonl``, ``{"event":
"end", "world_size": 2, "distributed_type": "MULTI_CPU", "backend": "gloo", "ranks": [...]}``.
"""

from __future__ import annotations

import os
import socket
from typing import Any

#: Where launchers put the global rank and the number of processes (torchrun, MPI).
RANK_VARS = ("RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "MV2_COMM_WORLD_RANK")
SIZE_VARS = ("WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE")


def _env_int(names, default: int) -> int:
    for name in names:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return default


def _state():
    """accelerate's process state once the trainer's arguments made it, else None.

    Never created here: made early without the trainer's settings, it could pick another
    backend or device than the run asks for.
    """
    import sys

    if "accelerate" not in sys.modules:
        return None
    from accelerate import PartialState

    return PartialState() if PartialState._shared_state else None


def is_main_process() -> bool:
    """True on the one process that writes files (rank 0; also when not distributed)."""
    state = _state()
    return state.is_main_process if state is not None else _env_int(RANK_VARS, 0) == 0


def world_size() -> int:
    """The number of training processes of this run."""
    state = _state()
    return state.num_processes if state is not None else _env_int(SIZE_VARS, 1)


def launch_info() -> dict[str, Any]:
    """World size, distributed type and collective backend of this run."""
    state = _state()
    if state is None:
        return {"world_size": world_size(), "distributed_type": "NO", "backend": None}
    return {"world_size": state.num_processes, "distributed_type": str(state.distributed_type.value),
            "backend": state.backend or None}


def gather_ranks(stats: dict[str, Any]) -> list[dict[str, Any]]:
    """Every rank's ``{rank, local_rank, host, pid, **stats}``, in rank order.

    A collective when distributed: every rank must call it, at the same point.
    """
    state = _state()
    mine = {"rank": state.process_index if state else 0,
            "local_rank": state.local_process_index if state else 0,
            "host": socket.gethostname(), "pid": os.getpid(), **stats}
    if state is None or state.num_processes == 1:
        return [mine]
    from accelerate.utils import gather_object

    return sorted(gather_object([mine]), key=lambda r: r["rank"])

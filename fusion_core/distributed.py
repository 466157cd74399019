"""One model trained by several processes: ``torchrun --nproc_per_node N -m fusion_core train …``.

``torchrun`` starts N copies of the command and tells each its rank through the
environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``). ``process_group`` joins them
(gloo on the CPU, NCCL when there are GPUs, one GPU per process); ``fit`` then wraps
the model in ``DistributedDataParallel``, and each process trains on its share of
every epoch's batches (see ``fusion_core.training``). Only rank 0 saves the run and prints.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch
import torch.distributed as dist


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    """True inside a process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


@contextlib.contextmanager
def process_group() -> Iterator[int]:
    """Join the processes ``torchrun`` started (when it did) for the duration; yields this process's rank."""
    if not launched_by_torchrun() or dist.is_initialized():
        yield rank()
        return
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    try:
        yield dist.get_rank()
    finally:
        dist.destroy_process_group()

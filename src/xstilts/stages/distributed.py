"""Data-parallel training across processes (``torchrun``), one code path for 1..N processes.

A rule that asks for N > 1 processes runs ``torchrun --standalone --nproc_per_node N -m
xstilts.cli <stage> ...``; torchrun sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` and
:func:`setup` joins the process group (NCCL on GPUs, gloo on CPU).  Without those variables
everything here degrades to the single-process no-ops, so ``train_phase`` has no second path.

Conventions used by :mod:`xstilts.stages.train`:

* every rank draws the same *global* batch (the batch iterators are deterministic) and keeps
  the contiguous shard :func:`shard` gives it, so the effective batch size is the configured
  ``batch_size`` whatever the number of processes;
* each rank's loss is re-weighted (:func:`loss_weight`) so that DDP's gradient *average* equals
  the gradient of the global batch mean, also when the shards have unequal sizes;
* scalars that decide control flow (dev score, stop flags) are all-reduced, so every rank takes
  the same decision on its own; only rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

from xstilts.core.lazy import lazy

torch = lazy("torch")  # the workflow imports shell_launcher: no torch for DAG building


@dataclass
class Context:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # ---- collectives (no-ops for one process) -------------------------------------------
    def _coll_device(self) -> torch.device:
        return self.device if self.backend == "nccl" else torch.device("cpu")

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum over ranks (float64)."""
        if not self.enabled:
            return [float(v) for v in values]
        import torch.distributed as dist

        t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=self._coll_device())
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return [float(v) for v in t.cpu()]

    def any(self, flag: bool) -> bool:
        return self.sum([1.0 if flag else 0.0])[0] > 0

    def gather(self, obj) -> list:
        """``obj`` of every rank, in rank order (on every rank)."""
        if not self.enabled:
            return [obj]
        import torch.distributed as dist

        out = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            if self.backend == "nccl":
                dist.barrier(device_ids=[self.local_rank])
            else:
                dist.barrier()


def env_world() -> tuple[int, int, int]:
    """(rank, world size, local rank) from the torchrun environment; (0, 1, 0) without it."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    rank = int(os.environ.get("RANK", "0") or 0)
    local = int(os.environ.get("LOCAL_RANK", str(rank)) or 0)
    return rank, world, local


def is_main_process() -> bool:
    return env_world()[0] == 0


def setup(device: torch.device) -> Context:
    """Join the process group when launched by torchrun; returns this rank's context.

    On CUDA each process takes ``cuda:LOCAL_RANK``.  Idempotent.
    """
    rank, world, local = env_world()
    device = torch.device(device)
    if world <= 1:
        return Context(0, 1, 0, device, None)
    import torch.distributed as dist

    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return Context(rank, world, local, device, dist.get_backend())


def teardown() -> None:
    """Leave the process group (at the end of a stage)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard(items: list, rank: int, world: int, pad_empty: bool = True) -> list:
    """Contiguous, near-equal shard ``rank`` of ``items`` (sizes differ by at most one).

    With ``pad_empty``, a rank whose shard would be empty (fewer items than processes) gets the
    first item; its loss weight is then 0 (:func:`loss_weight`), so it contributes nothing but
    still takes part in DDP's gradient all-reduce.
    """
    n = len(items)
    base, extra = divmod(n, world)
    start = rank * base + min(rank, extra)
    size = base + (1 if rank < extra else 0)
    return items[start:start + size] if size or not pad_empty else items[:1]


def shard_size(n: int, rank: int, world: int) -> int:
    base, extra = divmod(n, world)
    return base + (1 if rank < extra else 0)


def loss_weight(n_global: int, rank: int, world: int) -> float:
    """Factor for this rank's *mean* loss so that DDP's gradient average over ranks equals the
    gradient of the mean loss over the global batch: ``n_local * world / n_global``."""
    return shard_size(n_global, rank, world) * world / n_global


def wrap(model: torch.nn.Module, ctx: Context, find_unused: bool = False) -> torch.nn.Module:
    """``DistributedDataParallel(model)`` when there are several processes, else ``model``."""
    if not ctx.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DDP(model, device_ids=ids, output_device=ids[0] if ids else None,
               find_unused_parameters=find_unused)


def grad_sync(net: torch.nn.Module, last: bool):
    """The context of one micro-batch's forward and backward pass: under DDP the gradients of
    every pass but the ``last`` of an optimizer step accumulate locally (``no_sync``), so they
    are all-reduced once per step rather than once per micro-batch (the sum is the same)."""
    if last or not hasattr(net, "no_sync"):
        return contextlib.nullcontext()
    return net.no_sync()


def launcher(nproc: int, python_module: str = "xstilts.cli", console: str = "xstilts") -> str:
    """The command prefix of a stage run with ``nproc`` processes."""
    if int(nproc) <= 1:
        return console
    return f"torchrun --standalone --nproc_per_node {int(nproc)} -m {python_module}"


def shell_launcher(nproc: str = "{resources.nproc}", python_module: str = "xstilts.cli",
                   console: str = "xstilts") -> str:
    """:func:`launcher` as a bash snippet choosing at run time from ``nproc`` (a Snakemake
    placeholder in the rules: a resource, so changing it does not rerun finished jobs the way a
    changed ``params`` entry would)."""
    return (f"$(if [ {nproc} -gt 1 ]; then echo torchrun --standalone --nproc_per_node {nproc} "
            f"-m {python_module}; else echo {console}; fi)")

"""Training back-ends: how batches are sharded, how sums are reduced, how an update is applied.

The trainer calls a :class:`Backend` at exactly these points, so distributed
training (DDP, asynchronous SGD, model averaging) plugs in behind the same
interface without another copy of the loop. :class:`SingleProcess` is the
one-process back-end.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import torch
from torch import nn


class Backend(Protocol):
    """What the trainer needs from a back-end."""

    rank: int  # this worker's index
    world_size: int  # number of workers

    @property
    def is_main(self) -> bool:
        """Whether this worker writes checkpoints, TensorBoard and the main log."""
        ...

    def wrap(self, step: nn.Module) -> nn.Module:
        """The module the loop calls for a batch (a DDP wrapper, or ``step`` itself)."""
        ...

    def shard(self, batches: list[list[int]], complete: bool = False) -> list[list[int]]:
        """This worker's share of an epoch's batches (every worker gets the same number, unless
        ``complete``: then every batch goes to some worker, for evaluation)."""
        ...

    def agree(self, count: int, finite: bool) -> tuple[int, bool]:
        """Units of the global batch, and whether every worker's loss is finite."""
        ...

    def broadcast(self, t: torch.Tensor) -> torch.Tensor:
        """Rank 0's tensor on every worker."""
        ...

    def barrier(self) -> None:
        """Wait for every worker."""
        ...

    def after_batches(self, done: int, system: nn.Module, epoch_end: bool = False, epoch: int = 0) -> bool:
        """The hook of schemes that act every K batches (model averaging, ASGD's pulls); True: drop the
        rest of this epoch's share (ASGD: the others have moved on)."""
        ...

    def start(self, system: nn.Module, optimizer: torch.optim.Optimizer, epoch: int) -> None:
        """Before the first batch of the run (ASGD: hand the parameters to the servers)."""
        ...

    def sync_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        """Before the main worker writes a checkpoint: the optimizer state in ``optimizer`` (ASGD: the servers')."""
        ...

    def epoch_report(self) -> dict:
        """Fields for the epoch's record in history.json (ASGD: staleness)."""
        ...

    def reduce(self, values: list[float]) -> list[float]:
        """Sums of ``values`` over the workers."""
        ...

    def apply(self, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, params: list[nn.Parameter],
              grad_clip: float) -> tuple[bool, torch.Tensor]:
        """Apply the update from the gradients in ``params``.

        Returns:
            ``(applied, grad_norm)``: False when the gradient was not finite and nothing was applied.
        """
        ...


class SingleProcess:
    """One process, one device: no sharding, sums are local, a plain (clipped) optimizer step.

    Args:
        amp: the scaler is in use (CUDA float16): then inf gradients are the scaler's business (it
            skips the step and lowers the scale), and the step counts as applied.
    """

    rank = 0
    world_size = 1
    eval_on_main_only = False  # True: only the main worker evaluates the dev set (no collective)

    def __init__(self, amp: bool = False) -> None:
        self.amp = amp

    @property
    def is_main(self) -> bool:
        return True

    def wrap(self, step: nn.Module) -> nn.Module:
        return step

    def shard(self, batches: list[list[int]], complete: bool = False) -> list[list[int]]:
        return batches

    def reduce(self, values: list[float]) -> list[float]:
        return list(values)

    def agree(self, count: int, finite: bool) -> tuple[int, bool]:
        """The units of the global batch and whether its loss is finite everywhere (here: this batch's)."""
        return count, finite

    def broadcast(self, t: torch.Tensor) -> torch.Tensor:
        return t

    def barrier(self) -> None:
        pass

    def close(self) -> None:
        pass

    def after_batches(self, done: int, system: nn.Module, epoch_end: bool = False, epoch: int = 0) -> bool:
        """Called with the number of this epoch's batches done (before each batch and at the epoch's end)."""
        return False

    def start(self, system: nn.Module, optimizer: torch.optim.Optimizer, epoch: int) -> None:
        pass

    def sync_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        pass

    def epoch_report(self) -> dict:
        return {}

    def apply(self, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, params: list[nn.Parameter],
              grad_clip: float) -> tuple[bool, torch.Tensor]:
        scaler.unscale_(optimizer)
        norm = torch.nn.utils.clip_grad_norm_(params, grad_clip if grad_clip > 0 else math.inf)
        if not self.amp and not bool(torch.isfinite(norm)):
            optimizer.zero_grad(set_to_none=True)
            return False, norm
        scaler.step(optimizer)
        scaler.update()
        return True, norm


DIST_MODES = ("none", "ddp", "model-avg", "asgd", "hogwild")


def under_agent_store() -> bool:
    """Whether this process was started by torchrun's agent, whose store at ``MASTER_ADDR:MASTER_PORT`` it uses."""
    import os

    return os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True" and "MASTER_ADDR" in os.environ


def attempt_store(prefix: str, timeout: Any) -> Any:
    """A client of torchrun's agent store with its keys under ``<prefix>/attempt_<TORCHELASTIC_RESTART_COUNT>``,
    or None outside torchrun's agent. After a restart (``--max-restarts``) the processes otherwise meet the
    previous attempt's keys (addresses of processes that are gone) in the agent's store now and then, and
    hang or fail to connect."""
    import os

    import torch.distributed as dist

    if not under_agent_store():
        return None
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False,
                          timeout=timeout)
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    return dist.PrefixStore(f"{prefix}/attempt_{attempt}", store)


def init_process_group(backend: str, timeout: Any = None) -> None:
    """``torch.distributed.init_process_group`` from torchrun's environment, its keys under a prefix of the
    restart attempt (:func:`attempt_store`)."""
    import datetime
    import os

    import torch.distributed as dist

    kw: dict[str, Any] = {"timeout": timeout or datetime.timedelta(minutes=30)}
    store = attempt_store("asr", kw["timeout"])
    if store is not None:
        kw.update(store=store, rank=int(os.environ["RANK"]), world_size=int(os.environ["WORLD_SIZE"]))
    dist.init_process_group(backend, **kw)


class DDP(SingleProcess):
    """PyTorch DistributedDataParallel over the processes ``torchrun`` started (gloo on CPU, NCCL on GPU).

    Every worker trains on its own shard of each epoch's batches, all with the same number of
    batches (the few left over by the division are dropped, a different few each epoch as the
    order is shuffled); gradients are averaged by DDP during the backward pass, so the
    parameters stay identical; losses and token counts are summed over the workers, so each
    update is normalised by the global batch's tokens (:meth:`agree`). Rank 0 writes the
    checkpoints, TensorBoard and the main log.

    Args:
        amp: as :class:`SingleProcess`.
        device: this worker's device (``cuda:<local rank>`` on GPUs).
    """

    def __init__(self, amp: bool = False, device: torch.device | None = None) -> None:
        import os

        import torch.distributed as dist

        super().__init__(amp)
        if not dist.is_initialized():
            if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
                from asr.errors import AsrError

                raise AsrError("train.dist=ddp: start asr train with torchrun (steps/train.sh --nproc N --dist ddp); "
                               "RANK and WORLD_SIZE are not set")
            use_nccl = device is not None and device.type == "cuda"
            init_process_group("nccl" if use_nccl else "gloo")
        self.dist = dist
        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()
        self.device = device or torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, step: nn.Module) -> nn.Module:
        import warnings

        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        # no buffers to keep in sync (no batch norm), and evaluation runs unequal numbers of forward passes
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # newer torch renames the option; the meaning holds
            return DistributedDataParallel(step, device_ids=ids, broadcast_buffers=False)

    def shard(self, batches: list[list[int]], complete: bool = False) -> list[list[int]]:
        """This worker's batches: every ``world_size``-th. ``complete`` (evaluation, no collective per
        batch): all of them between the workers; else the same number for each (training)."""
        mine = batches[self.rank::self.world_size]
        return mine if complete else mine[: len(batches) // self.world_size]

    def reduce(self, values: list[float]) -> list[float]:
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        self.dist.all_reduce(t)
        return t.tolist()

    def agree(self, count: int, finite: bool) -> tuple[int, bool]:
        """The global batch's units, and whether every worker's loss is finite (all step, or none do)."""
        total, bad = self.reduce([float(count), 0.0 if finite else 1.0])
        return int(total), bad == 0

    def broadcast(self, t: torch.Tensor) -> torch.Tensor:
        """Rank 0's ``t`` on every worker (statistics computed once)."""
        t = t.to(self.device).contiguous()
        self.dist.broadcast(t, src=0)
        return t.cpu()

    def barrier(self) -> None:
        self.dist.barrier()

    def close(self) -> None:
        if self.dist.is_initialized():
            self.dist.destroy_process_group()


class ModelAveraging(DDP):
    """Kaldi nnet3's parallel training: each worker updates its own copy of the model on its own
    batches (its own optimizer state), and every ``every`` batches, and at each epoch's end, the
    workers' parameters are replaced by their average (an all-reduce). Between averagings the
    workers talk only to sum losses; an update is normalised by the worker's own batch.

    Args:
        every: batches between averagings (``train.avg_every``).
    """

    def __init__(self, amp: bool = False, device: torch.device | None = None, every: int = 10) -> None:
        super().__init__(amp, device)
        if every < 1:
            from asr.errors import AsrError

            raise AsrError(f"train.avg_every must be >= 1, got {every}")
        self.every = every

    def wrap(self, step: nn.Module) -> nn.Module:
        return step  # no gradient all-reduce: each worker steps alone

    def agree(self, count: int, finite: bool) -> tuple[int, bool]:
        return count * self.world_size, finite  # the trainer divides by world_size / count: the local mean

    def after_batches(self, done: int, system: nn.Module, epoch_end: bool = False, epoch: int = 0) -> bool:
        if not epoch_end and (done == 0 or done % self.every):
            return False
        from torch.nn.utils import parameters_to_vector, vector_to_parameters

        with torch.no_grad():
            params = list(system.parameters())
            flat = parameters_to_vector(params).to(self.device, torch.float64)  # summed in float64
            self.dist.all_reduce(flat)
            flat /= self.world_size
            vector_to_parameters(flat.to(params[0].dtype), params)
        return False


def make_backend(mode: str, amp: bool = False, device: torch.device | None = None,
                 avg_every: int = 10, train: Any = None, optim: Any = None) -> SingleProcess:
    """The back-end of ``train.dist`` (``train``, ``optim``: the config sections, for asgd)."""
    if mode == "none":
        return SingleProcess(amp)
    if mode == "ddp":
        return DDP(amp, device)
    if mode == "model-avg":
        return ModelAveraging(amp, device, avg_every)
    if mode in ("asgd", "hogwild"):
        from asr.train.async_sgd import AsyncSGD, Hogwild

        if mode == "hogwild":
            return Hogwild(amp, device)
        if device is not None and device.type != "cpu" or amp:
            from asr.errors import AsrError

            raise AsrError("train.dist=asgd runs on CPU workers (its servers apply float32 updates): use "
                           "train.device cpu, or ddp / model-avg on GPUs")
        return AsyncSGD(optim, train.asgd_servers, train.pull_interval, train.asgd_wait)
    from asr.errors import AsrError

    raise AsrError(f"unknown train.dist {mode!r} ({' | '.join(DIST_MODES)})")

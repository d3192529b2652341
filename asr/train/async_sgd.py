"""Asynchronous SGD: parameter servers (``train.dist asgd``) and Hogwild on one machine (``hogwild``).

**Parameter servers** (Dean et al. 2012's Downpour SGD, as Sak, Senior & Beaufays 2014 trained
their LSTMs): ``torchrun`` starts N workers and S servers (ranks 0..N-1 and N..N+S-1; steps/train.sh
``--nproc N --dist asgd --servers S``). The trainable parameters, flattened, are cut into S
contiguous shards; server ``i`` holds shard ``i`` and its optimizer state and applies every
gradient it receives (``torch.distributed.rpc`` calls; the shard's lock serialises updates). A
worker trains on its own share of each epoch's batches: every ``train.pull_interval`` updates it
pulls fresh parameters from every server, and after each backward pass it pushes its gradient
(clipped locally) without waiting for it to be applied; only before its next pull does it wait
for its own pushes, so it never reads a model older than its own last update.

- *Learning rate*: the main worker's schedule (its warm-up, decay and newbob, driven by its dev
  loss); each of its pushes carries its rate and the servers apply every worker's gradient with
  the latest rate they have from it (before its first push, with the pushing worker's own).
- *Staleness*: the updates a shard applied between a worker's pull and the arrival of that
  worker's push. Servers count it per worker; the main worker logs mean and maximum per worker
  at each epoch's end and keeps them in history.json (``asgd_staleness``).
- *Slow and dead workers*: at the end of its epoch the main worker waits for the others at most
  ``train.asgd_wait`` seconds; a worker that has not finished by then is named in the log and the
  rest of its share of that epoch is **dropped** (at its next pull it learns that the epoch is
  over and starts the next one). A worker that never reports again is not waited for again.
  Nothing else waits for a worker: no collective runs after start-up. The other way round, a worker
  through its share of an epoch before the main worker waits for the main worker's epoch end (at
  most ``train.asgd_wait`` seconds), so no worker runs more than an epoch's dev pass ahead.
- *Checkpoints*: the main worker pulls the parameters and the servers' optimizer state at each
  epoch's end, so ``epoch-N.pt`` is an ordinary checkpoint (its optimizer state per parameter):
  it resumes in any mode, with any number of workers.

**Hogwild** (Recht et al. 2011): N worker processes on one machine share one copy of the
parameters (a memory-mapped file in ``/dev/shm``); each runs its own optimizer on its own batches
and writes its updates into the shared parameters without locks. Losses are summed at the epoch's
end (a collective), as in model averaging.

Fault injection for tests: ``ASR_ASGD_FAULT=<rank>:slow=<seconds>`` makes that worker's every
gradient take that much longer (a sleep between its pull and its push); ``<rank>:exit=<batches>``
ends the worker's process abruptly after that many batches (a dead worker).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from asr.errors import AsrError
from asr.train.backend import DDP, attempt_store, init_process_group, under_agent_store

log = logging.getLogger(__name__)


def make_optimizer(params: list[nn.Parameter], optim: Any) -> torch.optim.Optimizer:
    """The optimizer of ``optim`` (an :class:`asr.train.config.OptimConfig`) over ``params``."""
    if optim.optimizer == "adam":
        return torch.optim.Adam(params, lr=optim.lr, weight_decay=optim.weight_decay)
    if optim.optimizer == "sgd":
        return torch.optim.SGD(params, lr=optim.lr, momentum=optim.momentum, weight_decay=optim.weight_decay)
    raise AsrError(f"unknown optimizer {optim.optimizer!r} (adam | sgd)")


# -- optimizer state <-> flat shards ----------------------------------------------------------
def flat_optimizer_state(optimizer: torch.optim.Optimizer, params: list[nn.Parameter]
                         ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The per-parameter optimizer state as (scalars, flat tensors in ``params`` order).

    Tensors shaped like their parameter (Adam's moments, SGD's momentum) are concatenated;
    anything else (Adam's step count) is taken from the first parameter: the parameters of one
    optimizer step together. Empty before the first step.
    """
    states = [optimizer.state.get(p, {}) for p in params]
    if not states or not states[0]:
        return {}, {}
    scalars, flats = {}, {}
    for k, v in states[0].items():
        if k != "step" and torch.is_tensor(v) and v.shape == params[0].shape:
            flats[k] = torch.cat([s[k].detach().reshape(-1).float() for s in states])
        elif v is not None:
            scalars[k] = v.clone() if torch.is_tensor(v) else torch.tensor(float(v))
    return scalars, flats


def load_flat_optimizer_state(optimizer: torch.optim.Optimizer, params: list[nn.Parameter],
                              scalars: dict[str, torch.Tensor], flats: dict[str, torch.Tensor]) -> None:
    """The inverse of :func:`flat_optimizer_state`: write the state back per parameter."""
    if not flats and not scalars:
        return
    offset = 0
    for p in params:
        n = p.numel()
        st = optimizer.state.setdefault(p, {})
        for k, v in scalars.items():
            st[k] = v.clone()
        for k, v in flats.items():
            st[k] = v[offset:offset + n].view_as(p).to(p.dtype).clone()
        offset += n


def _shard_bounds(n: int, shards: int) -> list[tuple[int, int]]:
    step = math.ceil(n / shards)
    return [(min(i * step, n), min((i + 1) * step, n)) for i in range(shards)]


# -- the server side ----------------------------------------------------------------------------
@dataclass
class _WorkerStats:
    pushes: int = 0
    stale_sum: int = 0
    stale_max: int = 0


@dataclass
class _Server:
    """One parameter shard, its optimizer and the epoch bookkeeping (server 0's is authoritative)."""

    optim_cfg: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    ready: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    param: nn.Parameter | None = None
    optimizer: torch.optim.Optimizer | None = None
    version: int = 0
    lr: float | None = None  # the main worker's latest rate (None until its first push)
    stats: dict[int, _WorkerStats] = field(default_factory=dict)
    epoch_done: dict[int, int] = field(default_factory=dict)  # worker -> last epoch it finished
    position: dict[int, tuple[int, int, int]] = field(default_factory=dict)  # worker -> (epoch, batch, of)
    epoch_now: int = 1  # the epoch the main worker is in: a worker behind it drops the rest of its own
    bye: set[int] = field(default_factory=set)


_SERVER: _Server | None = None


def _rpc_init(values: torch.Tensor, scalars: dict[str, torch.Tensor], flats: dict[str, torch.Tensor],
              epoch: int) -> int:
    s = _SERVER
    assert s is not None
    with s.lock:
        s.param = nn.Parameter(values.clone())
        s.optimizer = make_optimizer([s.param], s.optim_cfg)
        if flats or scalars:
            s.optimizer.state[s.param] = {**{k: v.clone() for k, v in scalars.items()},
                                          **{k: v.clone() for k, v in flats.items()}}
        s.epoch_now = epoch
        s.ready.set()
    log.info("parameter shard: %d parameters; optimizer %s%s", values.numel(), s.optim_cfg.optimizer,
             " (state restored)" if flats else "")
    return values.numel()


def _rpc_pull(rank: int) -> tuple[int, bool, int, torch.Tensor]:
    """(version, stop, the main worker's epoch, this shard's parameters)."""
    s = _SERVER
    assert s is not None
    s.ready.wait()
    with s.lock:
        assert s.param is not None
        return s.version, s.stop.is_set(), s.epoch_now, s.param.detach().clone()


def _rpc_push(rank: int, pulled: int, lr: float, main: bool, where: tuple[int, int, int],
              grad: torch.Tensor) -> int:
    """Apply a worker's gradient; returns its staleness (updates applied since its pull)."""
    s = _SERVER
    assert s is not None
    s.ready.wait()
    with s.lock:
        assert s.param is not None and s.optimizer is not None
        stale = s.version - pulled
        if main:
            s.lr = lr
        for g in s.optimizer.param_groups:  # before the main worker's first push: the worker's own schedule
            g["lr"] = s.lr if s.lr is not None else lr
        s.param.grad = grad
        s.optimizer.step()
        s.param.grad = None
        s.version += 1
        st = s.stats.setdefault(rank, _WorkerStats())
        st.pushes += 1
        st.stale_sum += stale
        st.stale_max = max(st.stale_max, stale)
        s.position[rank] = where
    return stale


def _rpc_epoch_done(rank: int, epoch: int) -> int:
    s = _SERVER
    assert s is not None
    with s.lock:
        s.epoch_done[rank] = max(epoch, s.epoch_done.get(rank, 0))
        return s.epoch_now


def _rpc_epoch_now() -> tuple[int, bool]:
    """(the main worker's epoch, whether training is over)."""
    s = _SERVER
    assert s is not None
    with s.lock:
        return s.epoch_now, s.stop.is_set()


Triple = tuple[int, int, int]


def _rpc_progress(reset: bool) -> tuple[dict[int, int], dict[int, Triple], dict[int, Triple]]:
    """(last epoch finished, position, staleness (pushes, sum, max)) per worker; ``reset`` the staleness."""
    s = _SERVER
    assert s is not None
    with s.lock:
        stats = {r: (st.pushes, st.stale_sum, st.stale_max) for r, st in s.stats.items()}
        if reset:
            s.stats.clear()
        return dict(s.epoch_done), dict(s.position), stats


def _rpc_advance(epoch: int) -> None:
    s = _SERVER
    assert s is not None
    with s.lock:
        s.epoch_now = max(s.epoch_now, epoch)


def _rpc_optimizer_state() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    s = _SERVER
    assert s is not None and s.param is not None and s.optimizer is not None
    with s.lock:
        return flat_optimizer_state(s.optimizer, [s.param])


def _rpc_stop() -> None:
    s = _SERVER
    assert s is not None
    s.stop.set()


def _rpc_bye(rank: int) -> None:
    s = _SERVER
    assert s is not None
    with s.lock:
        s.bye.add(rank)


def is_server(servers: int) -> bool:
    """Whether this process (under torchrun) is one of the ``servers`` parameter servers: the last ranks."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return world > 1 and int(os.environ.get("RANK", "0")) >= world - servers


def _init(servers: int, timeout: float) -> tuple[int, int]:
    """torch.distributed (gloo, for the workers' start-up collectives) and RPC for every process."""
    import datetime

    import torch.distributed as dist
    import torch.distributed.rpc as rpc

    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise AsrError("train.dist=asgd: start asr train with torchrun (steps/train.sh --nproc N --dist asgd "
                       "--servers S); RANK and WORLD_SIZE are not set")
    world, rank = int(os.environ["WORLD_SIZE"]), int(os.environ["RANK"])
    if not 1 <= servers < world:
        raise AsrError(f"train.dist=asgd: {world} processes cannot hold {servers} parameter server(s) and at "
                       f"least one worker (torchrun --nproc-per-node = workers + train.asgd_servers)")
    if not dist.is_initialized():
        init_process_group("gloo", timeout=datetime.timedelta(seconds=max(timeout * 4, 1800)))
    opts = rpc.TensorPipeRpcBackendOptions(num_worker_threads=max(16, 2 * world), rpc_timeout=max(timeout * 4, 600),
                                           init_method=_rpc_init_method())
    rpc.init_rpc(_name(rank, world, servers), rank=rank, world_size=world, rpc_backend_options=opts)
    return rank, world


_RDZV_SCHEME = "asr-attempt"


def _rpc_init_method() -> str:
    """Under torchrun's agent, RPC meets in the agent's store with keys of this restart attempt
    (:func:`asr.train.backend.attempt_store`; torch's ``env://`` reuses the same keys in every attempt), through a
    rendezvous handler registered once per process; elsewhere ``env://``."""
    import datetime

    from torch.distributed.rendezvous import register_rendezvous_handler

    if not under_agent_store():
        return "env://"

    def handler(url: str, timeout: datetime.timedelta = datetime.timedelta(minutes=30), **kwargs: Any) -> Any:
        store = attempt_store("asr-rpc", timeout)
        yield store, int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        raise RuntimeError("asr-attempt:// rendezvous cannot be re-run")

    try:
        register_rendezvous_handler(_RDZV_SCHEME, handler)
    except RuntimeError:  # registered by an earlier call in this process
        pass
    return f"{_RDZV_SCHEME}://"


def _name(rank: int, world: int, servers: int) -> str:
    return f"server{rank - (world - servers)}" if rank >= world - servers else f"worker{rank}"


def serve(optim_cfg: Any, servers: int, wait: float) -> int:
    """Run one parameter server until the main worker stops training; returns 0."""
    import torch.distributed as dist
    import torch.distributed.rpc as rpc

    global _SERVER
    workers = int(os.environ["WORLD_SIZE"]) - servers
    _SERVER = _Server(optim_cfg)
    rank, world = _init(servers, wait)
    dist.new_group(list(range(workers)))  # every process takes part in creating the workers' group
    index = rank - workers
    log.info("parameter server %d of %d for %d workers", index + 1, servers, workers)
    _SERVER.stop.wait()
    t0 = time.time()
    while time.time() - t0 < wait:  # the workers still training learn at their next pull that training is over
        with _SERVER.lock:
            left = set(range(workers)) - _SERVER.bye
        if not left:
            break
        time.sleep(0.1)
    else:
        log.warning("parameter server %d: workers %s did not finish within %.0f s of the end; stopping without them",
                    index + 1, sorted(left), wait)
    log.info("parameter server %d: %d updates applied", index + 1, _SERVER.version)
    rpc.shutdown(graceful=False)
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


# -- the worker side ----------------------------------------------------------------------------
def _fault() -> tuple[int, str, float] | None:
    spec = os.environ.get("ASR_ASGD_FAULT", "")
    if not spec:
        return None
    try:
        rank, rest = spec.split(":", 1)
        kind, value = rest.split("=", 1)
        return int(rank), kind, float(value)
    except ValueError:
        raise AsrError(f"ASR_ASGD_FAULT={spec!r}: <rank>:slow=<seconds> or <rank>:exit=<batches>") from None


class AsyncSGD(DDP):
    """A worker of asynchronous SGD with parameter servers (see the module docstring).

    Args:
        optim_cfg: the optimizer section (the servers build the same optimizer).
        servers: parameter server processes (``train.asgd_servers``).
        pull_interval: updates between pulls of fresh parameters (``train.pull_interval``).
        wait: seconds the main worker waits at an epoch's end for the others (``train.asgd_wait``).
    """

    eval_on_main_only = True  # nothing waits for the other workers

    def __init__(self, optim_cfg: Any, servers: int = 1, pull_interval: int = 1, wait: float = 120.0) -> None:
        import torch.distributed as dist

        if pull_interval < 1:
            raise AsrError(f"train.pull_interval must be >= 1, got {pull_interval}")
        self.amp = False
        rank, world = _init(servers, wait)
        self.dist = dist
        self.rank, self.world_size = rank, world - servers
        self.servers = servers
        self.group = dist.new_group(list(range(self.world_size)))
        self.device = torch.device("cpu")
        self.pull_interval = pull_interval
        self.wait = wait
        self._params: list[nn.Parameter] = []
        self._bounds: list[tuple[int, int]] = []
        self._versions: list[int] = []
        self._pending: list[Any] = []
        self._since_pull = 0
        self._epoch = 0
        self._batch_in_epoch = self._epoch_batches = 0
        self._batches = 0
        self._gone: set[int] = set()
        self._stop = False
        self.staleness: dict[str, dict[str, float]] = {}
        fault = _fault()
        self._fault = fault if fault is not None and fault[0] == self.rank else None

    # collectives only among the workers, and only at start-up
    def reduce(self, values: list[float]) -> list[float]:
        return list(values)  # each worker's own sums: no collective after start-up

    def agree(self, count: int, finite: bool) -> tuple[int, bool]:
        return count * self.world_size, finite  # each update is normalised by the worker's own batch

    def broadcast(self, t: torch.Tensor) -> torch.Tensor:
        t = t.contiguous()
        self.dist.broadcast(t, src=0, group=self.group)
        return t

    def barrier(self) -> None:
        pass  # nothing waits for a worker that may be gone

    def wrap(self, step: nn.Module) -> nn.Module:
        return step

    def shard(self, batches: list[list[int]], complete: bool = False) -> list[list[int]]:
        """Training: every ``world_size``-th batch (shares may differ by one). Evaluation: the main worker's alone."""
        if complete:
            return batches if self.is_main else []
        mine = batches[self.rank::self.world_size]
        self._epoch_batches = len(mine)
        return mine

    def _server(self, i: int) -> str:
        return f"server{i}"

    def start(self, system: nn.Module, optimizer: torch.optim.Optimizer, epoch: int) -> None:
        """The main worker hands the parameters (and a resumed optimizer state) to the servers; every
        worker then pulls them."""
        import torch.distributed.rpc as rpc
        from torch.nn.utils import parameters_to_vector

        self._params = [p for g in optimizer.param_groups for p in g["params"]]
        n = sum(p.numel() for p in self._params)
        self._bounds = _shard_bounds(n, self.servers)
        self._epoch = epoch
        if self.is_main:
            flat = parameters_to_vector(self._params).detach().float()
            scalars, flats = flat_optimizer_state(optimizer, self._params)
            futs = [rpc.rpc_async(self._server(i), _rpc_init,
                                  args=(flat[lo:hi], scalars, {k: v[lo:hi] for k, v in flats.items()}, epoch + 1))
                    for i, (lo, hi) in enumerate(self._bounds)]
            for f in futs:
                f.wait()
            log.info("asgd: %d parameters on %d server%s (shards of %s), pull every %d update%s", n, self.servers,
                     "s" if self.servers > 1 else "", ", ".join(str(hi - lo) for lo, hi in self._bounds),
                     self.pull_interval, "s" if self.pull_interval > 1 else "")
        self._pull()

    def _wait_pushes(self) -> None:
        for f in self._pending:
            f.wait()
        self._pending = []

    def _pull(self) -> tuple[bool, int]:
        """Fresh parameters from every server; returns (stop, the main worker's epoch)."""
        import torch.distributed.rpc as rpc
        from torch.nn.utils import vector_to_parameters

        self._wait_pushes()
        replies = [f.wait() for f in [rpc.rpc_async(self._server(i), _rpc_pull, args=(self.rank,))
                                      for i in range(self.servers)]]
        self._versions = [r[0] for r in replies]
        with torch.no_grad():
            flat = torch.cat([r[3] for r in replies])
            vector_to_parameters(flat.to(self._params[0].dtype), self._params)
        self._since_pull = 0
        return replies[0][1], replies[0][2]

    def after_batches(self, done: int, system: nn.Module, epoch_end: bool = False, epoch: int = 0) -> bool:
        """Before each batch: pull when due, and say whether this epoch's share is to be dropped
        (the main worker has moved on, or training is over). At the epoch's end: report it; the
        main worker waits for the others, then pulls the model for its checkpoint."""
        import torch.distributed.rpc as rpc

        if epoch_end:
            self._wait_pushes()
            epoch_now = rpc.rpc_sync(self._server(0), _rpc_epoch_done, args=(self.rank, epoch))
            if self.is_main:
                self._epoch_end(epoch)
            elif epoch_now > epoch + 1:
                log.info("asgd: the main worker is in epoch %d", epoch_now)
            elif epoch_now <= epoch:
                self._wait_for_main(epoch)
            return False
        if self._stop:
            return True
        if self._fault is not None:
            _, kind, value = self._fault
            if kind == "exit" and self._batches >= value:
                log.warning("ASR_ASGD_FAULT: worker %d ends its process after %d batches", self.rank, self._batches)
                logging.shutdown()
                os._exit(0)
        self._batches += 1
        self._epoch, self._batch_in_epoch = epoch, done + 1
        if done == 0 or self._since_pull >= self.pull_interval:
            stop, epoch_now = self._pull()
            if stop:
                log.info("asgd: training is over (the main worker stopped it): worker %d ends in epoch %d",
                         self.rank, epoch)
                self._stop = True
                return True
            if epoch_now > epoch and not self.is_main:
                log.warning("asgd: worker %d drops the rest of its share of epoch %d (batch %d): the main worker "
                            "is in epoch %d", self.rank, epoch, done + 1, epoch_now)
                return True
        return False

    def _wait_for_main(self, epoch: int) -> None:
        """A worker through its share of ``epoch`` before the main worker waits (at most ``train.asgd_wait``
        seconds) until the main worker has ended that epoch too: without it a worker with no dev pass or
        checkpoint to write ran epochs ahead, and the last epochs were the main worker's alone."""
        import torch.distributed.rpc as rpc

        t0 = time.time()
        while time.time() - t0 < self.wait:
            epoch_now, stop = rpc.rpc_sync(self._server(0), _rpc_epoch_now)
            if stop or epoch_now > epoch:
                return
            time.sleep(0.02)
        log.warning("asgd: worker %d: the main worker has not ended epoch %d within %.0f s; going on", self.rank,
                    epoch, self.wait)

    def _epoch_end(self, epoch: int) -> None:
        import torch.distributed.rpc as rpc

        t0 = time.time()
        waiting: set[int] = set()
        while True:
            done, position, _ = rpc.rpc_sync(self._server(0), _rpc_progress, args=(False,))
            for r in self._gone & {r for r, e in done.items() if e >= epoch}:
                self._gone.discard(r)
                log.info("asgd: worker %d finished epoch %d: waited for again", r, epoch)
            waiting = {r for r in range(self.world_size) if done.get(r, 0) < epoch} - self._gone
            if not waiting or time.time() - t0 > self.wait:
                break
            time.sleep(0.05)
        for r in sorted(waiting):
            e, b, nb = position.get(r, (0, 0, 0))
            where = f"last push in epoch {e}, batch {b} of {nb}" if nb else "no push yet"
            log.warning("asgd: worker %d has not finished epoch %d after %.0f s (%s): going on without it; the rest "
                        "of its share of epoch %d is dropped", r, epoch, time.time() - t0, where, epoch)
            self._gone.add(r)
        rpc.rpc_sync(self._server(0), _rpc_advance, args=(epoch + 1,))
        waited = time.time() - t0
        self._pull()
        _, _, stats = rpc.rpc_sync(self._server(0), _rpc_progress, args=(True,))
        self.staleness = {str(r): {"pushes": p, "mean": round(s / max(p, 1), 3), "max": m}
                          for r, (p, s, m) in sorted(stats.items())}
        log.info("asgd: epoch %d: staleness (updates between pull and push, mean / max) %s; waited %.1f s for "
                 "the others", epoch, ", ".join(f"worker {r} {v['mean']:.2f} / {v['max']} ({v['pushes']} pushes)"
                                                for r, v in self.staleness.items()), waited)

    def epoch_report(self) -> dict[str, Any]:
        return {"asgd_staleness": self.staleness} if self.is_main and self.staleness else {}

    def sync_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        """The servers' optimizer state into the main worker's optimizer (for its checkpoint)."""
        import torch.distributed.rpc as rpc

        parts = [f.wait() for f in [rpc.rpc_async(self._server(i), _rpc_optimizer_state)
                                    for i in range(self.servers)]]
        scalars = parts[0][0]
        flats = {k: torch.cat([p[1][k] for p in parts]) for k in parts[0][1]}
        load_flat_optimizer_state(optimizer, self._params, scalars, flats)

    def apply(self, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, params: list[nn.Parameter],
              grad_clip: float) -> tuple[bool, torch.Tensor]:
        """Clip the local gradient and push its shards to the servers (not waiting for them)."""
        import torch.distributed.rpc as rpc

        if self._fault is not None and self._fault[1] == "slow":
            time.sleep(self._fault[2])  # a slow gradient computation, between the pull and the push
        norm = torch.nn.utils.clip_grad_norm_(params, grad_clip if grad_clip > 0 else math.inf)
        if not bool(torch.isfinite(norm)):
            optimizer.zero_grad(set_to_none=True)
            return False, norm
        grad = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1).float()
                          for p in self._params])
        lr = optimizer.param_groups[0]["lr"]
        where = (self._epoch, self._batch_in_epoch, self._epoch_batches)
        self._pending += [rpc.rpc_async(self._server(i), _rpc_push, args=(self.rank, self._versions[i], lr,
                                                                          self.is_main, where, grad[lo:hi].clone()))
                          for i, (lo, hi) in enumerate(self._bounds)]
        self._since_pull += 1
        optimizer.zero_grad(set_to_none=True)
        return True, norm

    def close(self) -> None:
        import torch.distributed.rpc as rpc

        try:
            self._wait_pushes()
            if self.is_main:
                for i in range(self.servers):
                    rpc.rpc_sync(self._server(i), _rpc_stop)
            for i in range(self.servers):
                rpc.rpc_sync(self._server(i), _rpc_bye, args=(self.rank,))
        finally:
            rpc.shutdown(graceful=False)
            if self.dist.is_initialized():
                self.dist.destroy_process_group()


class Hogwild(DDP):
    """Lock-free shared-memory ASGD among the worker processes of one machine (see the module docstring)."""

    def __init__(self, amp: bool = False, device: torch.device | None = None) -> None:
        if device is not None and device.type != "cpu":
            raise AsrError("train.dist=hogwild shares parameters in CPU memory: use train.device cpu "
                           "(ddp or model-avg on GPUs)")
        super().__init__(amp, device)
        local = int(os.environ.get("LOCAL_WORLD_SIZE", self.world_size))
        if local != self.world_size:
            raise AsrError(f"train.dist=hogwild needs every worker on one machine ({self.world_size} workers, "
                           f"{local} on this one): use asgd, ddp or model-avg across machines")
        self._shared: torch.Tensor | None = None

    def wrap(self, step: nn.Module) -> nn.Module:
        """Move every parameter into one memory-mapped buffer shared by the workers (rank 0's values)."""
        import tempfile
        import uuid

        params = list(step.parameters())
        n = sum(p.numel() for p in params)
        path = [""]
        if self.is_main:
            shm = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
            path[0] = os.path.join(shm, f"asr-hogwild-{uuid.uuid4().hex}")
            with open(path[0], "wb") as f:
                f.truncate(n * 4)
        self.dist.broadcast_object_list(path, src=0)
        shared = torch.from_file(path[0], shared=True, size=n, dtype=torch.float32)
        if self.is_main:
            offset = 0
            for p in params:
                shared[offset:offset + p.numel()].copy_(p.detach().reshape(-1))
                offset += p.numel()
        self.dist.barrier()
        offset = 0
        for p in params:
            p.data = shared[offset:offset + p.numel()].view_as(p)
            offset += p.numel()
        self.dist.barrier()
        if self.is_main:
            os.unlink(path[0])  # the mappings stay; the name goes
        self._shared = shared
        log.info("hogwild: %d parameters shared by %d workers (lock-free updates)", n, self.world_size)
        return step

    def agree(self, count: int, finite: bool) -> tuple[int, bool]:
        return count * self.world_size, finite  # each worker's update is normalised by its own batch

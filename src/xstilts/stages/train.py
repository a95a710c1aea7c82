"""One training loop for the intermediate and the target phase.

Single-task and multi-task training are the same loop: each optimizer step draws a task
(uniform, proportional to size, or temperature-scaled sampling), takes that task's next batch
and updates the shared encoder and that task's head.  Early stopping watches the English dev
subset only (zero-shot evaluation stays pure); the best state is restored at the end.

Preemption and time limits: every ``save_every`` steps (default: every ``save_minutes`` of wall
time), and at the end of the step during which SIGTERM, SIGUSR1 or SIGINT arrived, the loop
saves everything needed to continue bit for bit (model, optimizer, scheduler, RNG states of
python/numpy/torch, the position of every task's batch iterator, step, best
state/score/patience, history and the cost counters) into ``state_dir`` (outside the phase's
outputs, see ``paths.state_dir``).  After a signal it raises
:class:`Preempted` (the CLI exits with 128 + signal number) so SLURM/Snakemake requeue or retry
the job; the rerun finds the state and resumes.  The caller deletes the state after the
checkpoint is written (:func:`clear_state`).  One trainer at a time holds a state folder (its
lock, :mod:`xstilts.stages.guard`); an unreadable state is set aside and training restarts; a
non-finite loss stops the phase (or skips up to ``max_bad_steps`` steps).

Data parallelism: launched by ``torchrun`` the same loop runs in every process
(:mod:`xstilts.stages.distributed`): each rank takes a shard of the same global batch, DDP averages the
gradients, the dev score is reduced over ranks, and only rank 0 saves.
"""

from __future__ import annotations

import copy
import json
import math
import os
import random
import signal
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm.auto import tqdm

from xstilts.core.runtime import autocast
from xstilts.stages import distributed, guard
from xstilts.stages.common import _to, atomic_write_bytes, file_digest, json_digest, predict
from xstilts.stages.profiling import CostMeter

if TYPE_CHECKING:
    from xstilts.tasks.families import Family

STATE_FILE = "state.json"
STATE_VERSION = 1
STOP_SIGNALS = ("SIGTERM", "SIGUSR1", "SIGINT")
# seconds to sleep after each step: lets tests interrupt a tiny run at a chosen point
_TEST_SLEEP_ENV = "XSTILTS_TEST_STEP_SLEEP"


@dataclass
class TaskData:
    """A bound task's tokenized training and English dev features."""

    task: object  # registry Task
    family: Family
    train: list[dict]
    dev: list[dict] = field(default_factory=list)
    options: dict = field(default_factory=dict)  # the family's options (Family.options)
    languages: list[str] | None = None  # per training feature (a +translate intermediate), else English

    @classmethod
    def of(cls, bound, train: list[dict], dev: list[dict]) -> "TaskData":
        return cls(bound.task, bound.family, train, dev, options=dict(bound.options))


class Preempted(RuntimeError):
    """Training stopped on a signal after saving its state; rerun to resume."""

    def __init__(self, signum: int, step: int, state_dir: str | None):
        self.signum, self.step, self.state_dir = signum, step, state_dir
        name = signal.Signals(signum).name if signum else "signal"
        super().__init__(f"stopped by {name} after step {step}; state saved in {state_dir}: "
                         f"rerun the same command to resume")

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signum or 15)


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def sampling_weights(sizes: list[int], scheme: str, temperature: float = 2.0) -> list[float]:
    """Task probabilities for multi-task training."""
    if scheme == "uniform":
        raw = [1.0] * len(sizes)
    elif scheme == "proportional":
        raw = [float(n) for n in sizes]
    elif scheme == "temperature":
        raw = [float(n) ** (1.0 / temperature) for n in sizes]
    else:
        raise ValueError(f"unknown sampling scheme {scheme!r} (uniform|proportional|temperature)")
    total = sum(raw)
    return [r / total for r in raw]


class TaskBatches:
    """Endless shuffled batches of indices, deterministic and restorable.

    Epoch ``e``'s permutation is derived from ``(seed, key, e)`` only, so the position
    ``(epoch, index)`` is the whole state: no hidden RNG to save.
    """

    def __init__(self, n: int, batch_size: int, seed: int, key: str):
        if n <= 0:
            raise ValueError(f"task {key!r} has no training examples")
        self.n, self.bs, self.seed, self.key = n, batch_size, int(seed), key
        self.epoch, self.index = 0, 0
        self._order_epoch, self._order = None, None

    def order(self, epoch: int) -> np.ndarray:
        if self._order_epoch != epoch:
            ss = np.random.SeedSequence([self.seed, zlib.crc32(self.key.encode()), epoch])
            self._order = np.random.default_rng(ss).permutation(self.n)
            self._order_epoch = epoch
        return self._order

    def next(self) -> list[int]:
        if self.index >= self.n:
            self.epoch, self.index = self.epoch + 1, 0
        idx = self.order(self.epoch)[self.index:self.index + self.bs]
        self.index += len(idx)
        return [int(i) for i in idx]

    def state(self) -> dict:
        return {"epoch": self.epoch, "index": self.index, "n": self.n, "batch_size": self.bs}

    def load_state(self, st: dict) -> None:
        if st["n"] != self.n or st["batch_size"] != self.bs:
            raise ValueError(f"batch iterator of {self.key!r}: saved for n={st['n']} bs={st['batch_size']}, "
                             f"now n={self.n} bs={self.bs}")
        self.epoch, self.index = int(st["epoch"]), int(st["index"])


def dev_score(model, td: TaskData, bs: int, device, dtype, pad_id, ctx=None) -> float:
    """The task's headline metric on its English dev subset.  With several processes each rank
    predicts a contiguous shard; the shards are gathered in rank order (restoring the feature
    order) and every rank scores the whole set, so all ranks take the same early-stopping
    decision."""
    ctx = ctx or distributed.Context(device=torch.device(device))
    part = distributed.shard(td.dev, ctx.rank, ctx.world, pad_empty=False)
    preds = predict(model, td.task, td.family, part, bs, device, dtype, pad_id) if part else []
    preds = [p for shard in ctx.gather(preds) for p in shard]
    ids, outputs = td.family.outputs(td.task, preds, td.dev, **td.options)
    return float(td.family.score(td.task, ids, outputs, td.dev, "en")[td.task.metric])


# ---------------------------------------------------------------------------- stop signals
class _StopFlag:
    """SIGTERM/SIGUSR1/SIGINT set a flag; the loop saves at the end of the current step and stops."""

    def __init__(self, log):
        self.signum = None
        self._old = {}
        self._log = log

    def _handler(self, signum, frame):
        if self.signum is None:
            self._log(f"received {signal.Signals(signum).name}: saving state at the end of this step")
        self.signum = signum

    def __enter__(self):
        import threading

        if threading.current_thread() is threading.main_thread():
            for name in STOP_SIGNALS:
                sig = getattr(signal, name, None)
                if sig is not None:
                    self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False


# ---------------------------------------------------------------------------- resumable state
def _fingerprint(obj) -> str:
    return json_digest(obj)[:16]


def _rng_states(device) -> dict:
    """This process's RNG states (python, numpy, torch CPU [+ CUDA]) as JSON-able values."""
    py = random.getstate()
    npst = np.random.get_state()
    out = {"python": [py[0], list(py[1]), py[2]],
           "numpy": [npst[0], [int(x) for x in npst[1]], int(npst[2]), int(npst[3]), float(npst[4])],
           "torch": torch.get_rng_state().tolist()}
    if device.type == "cuda":
        out["cuda"] = torch.cuda.get_rng_state(device).tolist()
    return out


def _set_rng_states(st: dict, device) -> None:
    py = st["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = st["numpy"]
    np.random.set_state((n[0], np.array(n[1], dtype=np.uint32), n[2], n[3], n[4]))
    torch.set_rng_state(torch.tensor(st["torch"], dtype=torch.uint8))
    if device.type == "cuda" and "cuda" in st:
        torch.cuda.set_rng_state(torch.tensor(st["cuda"], dtype=torch.uint8), device)


def _atomic_torch_save(obj, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(obj, tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_state(state_dir: str | None) -> tuple[dict, dict, dict | None] | None:
    """``(meta, tensors, best_state)`` of a saved state, or ``None`` when there is none.

    ``state.json`` is written last (atomic rename) and names the tensor files of its step, so a
    crash while saving leaves the previous complete state.  Tensors are loaded with
    ``weights_only=True``.
    """
    if not state_dir:
        return None
    f = Path(state_dir) / STATE_FILE
    if not f.exists():
        return None
    meta = json.loads(f.read_text())
    tensors = torch.load(Path(state_dir) / meta["files"]["tensors"], map_location="cpu", weights_only=True)
    best = None
    if meta["files"].get("best"):
        best = torch.load(Path(state_dir) / meta["files"]["best"], map_location="cpu", weights_only=True)
    return meta, tensors, best


def save_state(state_dir: str, meta: dict, tensors: dict, best_state: dict | None,
               best_file: str | None) -> str | None:
    """Write one resumable state; returns the name of the best-state file it references.

    ``best_state`` is written only when ``best_file`` (the file already on disk) is not the one
    for ``meta['best_step']``.  Files no longer referenced are removed after ``state.json``.
    """
    d = Path(state_dir)
    d.mkdir(parents=True, exist_ok=True)
    step = int(meta["step"])
    tname = f"tensors-{step:09d}.pt"
    _atomic_torch_save(tensors, d / tname)
    bname = None
    if best_state is not None:
        bname = f"best-{int(meta['best_step']):09d}.pt"
        if bname != best_file or not (d / bname).exists():
            _atomic_torch_save(best_state, d / bname)
    meta = {**meta, "files": {"tensors": tname, "best": bname}}
    guard.fault_point("state-save")
    atomic_write_bytes(d / STATE_FILE, json.dumps(meta).encode())
    for p in d.iterdir():
        if p.name not in (STATE_FILE, tname, bname) and (p.suffix == ".pt" or ".tmp" in p.name):
            p.unlink(missing_ok=True)
    return bname


def clear_state(state_dir: str | None) -> None:
    """Delete a phase's resumable state (after its checkpoint is complete; a held lock stays
    until released) and the folders it leaves empty."""
    guard.clear(state_dir)


# ---------------------------------------------------------------------------- the loop
def train_phase(model, tasks: list[TaskData], hp: dict, *, phase: str, seed: int, device,
                dtype: str = "float32", pad_id: int = 1, sampling: str = "proportional",
                temperature: float = 2.0, log=print, state_dir: str | None = None,
                resume_key: str = "", compile: bool = False,
                micro_batch_size: int | None = None, mlm=None) -> dict:
    """Train ``model`` in place on ``tasks``; returns the phase's cost record.
    ``micro_batch_size``: examples per forward/backward pass (the model's memory budget); the
    ``batch_size`` of an optimizer step is reached by gradient accumulation (None: one pass).

    ``hp``: lr, batch_size, epochs, warmup (fraction of steps), weight_decay, max_steps
    (optional cap), eval_every (steps), patience (evaluations), grad_clip, save_every (steps
    between resumable states; 0 disables periodic saves, a stop signal still saves).
    ``state_dir``: where the resumable state lives (``None``: no saving, no resuming).
    ``resume_key``: anything else that must match for a saved state to be reused (e.g. a hash
    of the initial checkpoint).
    ``compile``: ``torch.compile`` the encoder (in place: the state dict keeps its keys).  On
    CUDA the optimizer is the fused AdamW.
    ``mlm``: an :class:`xstilts.stages.mlm.MlmData` (a ``+mlm`` intermediate): one more member
    of the mixture, drawn at a step with probability ``ratio / (1 + ratio)``; the phase gets
    ``1 + ratio`` times the task's step budget, so the tasks keep theirs in expectation.  Its
    head must be ``model.heads[MLM_HEAD]``; its FLOPs count in the phase's, and the held-out MLM
    loss is measured before training and at every evaluation.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) every process calls this with the same arguments;
    ``batch_size`` stays the global (effective) batch size.  On return, only rank 0's ``model``
    holds the restored best weights.
    """
    from transformers import get_linear_schedule_with_warmup

    from xstilts.core.config import hparam_defaults, operational_hparams

    hp = {**hparam_defaults(), **hp}  # the schema's defaults, for a caller's partial dict
    ctx = distributed.setup(device)
    device = ctx.device
    if not ctx.is_main:
        log = lambda *_a, **_k: None  # noqa: E731 - one log per job
    set_seed(seed)
    rng = random.Random(seed)  # task sampling of multi-task training
    model.to(device)
    bs = int(hp["batch_size"])
    steps_per_epoch = sum(math.ceil(len(t.train) / bs) for t in tasks)
    total = int(hp["epochs"] * steps_per_epoch)
    if hp["max_steps"]:
        total = min(total, int(hp["max_steps"]))
    total = max(total, 1)
    if mlm is not None:  # the task keeps its step budget: the MLM steps come on top
        total = int(round(total * (1.0 + mlm.ratio)))
    weights = sampling_weights([len(t.train) for t in tasks], sampling, temperature)
    iters = [TaskBatches(len(t.train), bs, seed, t.task.name) for t in tasks]
    mlm_iter = TaskBatches(len(mlm.train), mlm.batch_size, seed, mlm.name) if mlm is not None else None

    opt = torch.optim.AdamW(model.parameters(), lr=float(hp["lr"]),
                            weight_decay=float(hp["weight_decay"]), fused=device.type == "cuda")
    if compile:
        model.encoder.compile()
    sched = get_linear_schedule_with_warmup(opt, int(float(hp["warmup"]) * total), total)
    eval_every = int(hp["eval_every"] or max(total // 10, 1))  # null: a tenth of the steps
    patience = int(hp["patience"])
    clock = guard.SaveClock(hp["save_every"], hp["save_minutes"])
    finite = guard.FiniteGuard(hp["max_bad_steps"], log)
    # task heads run once per sequence; with several heads (multitask) count their mean size
    task_heads = {k: h for k, h in model.heads.items() if mlm is None or k != mlm.name}
    head_weights = [p.numel() for h in task_heads.values() for n, p in h.named_parameters() if n.endswith("weight")]
    head_params = sum(head_weights) / max(len(task_heads), 1)
    per_token = any(t.family.head_per_token for t in tasks)
    meter = CostMeter(phase, device, model.encoder.config, head_params=head_params,
                      head_per_token=per_token, n_devices=ctx.world)
    mlm_forward = None
    if mlm is not None:
        from xstilts.stages.profiling import analytic_forward_flops

        mlm_head = mlm.head_flop_params(model.encoder.config)
        enc_config = model.encoder.config
        mlm_forward = lambda lens: analytic_forward_flops(enc_config, lens, 1, mlm_head, True)  # noqa: E731
    sleep = float(os.environ.get(_TEST_SLEEP_ENV) or 0)

    fingerprint = _fingerprint({
        "version": STATE_VERSION, "phase": phase, "tasks": [t.task.name for t in tasks],
        "sizes": [len(t.train) for t in tasks], "seed": seed, "total": total, "dtype": dtype,
        "sampling": sampling, "temperature": temperature, "key": resume_key,
        "hp": {k: v for k, v in hp.items() if k not in operational_hparams()},
        **({"mlm": [len(mlm.train), mlm.batch_size, mlm.ratio, mlm.probability]} if mlm is not None else {})})

    best, best_step, best_state, bad, stopped_early = -1.0, 0, None, 0, False
    history, resumed_from = [], []
    offset = {"steps": 0, "examples": 0, "tokens": 0, "flops": 0.0, "wall_s": 0.0,
              "device_hours": 0.0, "peak_mem_mb": 0.0, "micro_steps": 0}
    micro_done = [0]  # forward/backward passes of this process (gradient accumulation)
    # continued MLM (steps, tokens, sequences, flops, loss first/last/held-out) and the
    # examples drawn per language (a +translate intermediate)
    mlm_cost = {"steps": 0, "tokens": 0, "sequences": 0, "flops": 0.0, "loss_first": None,
                "loss_last": None, "heldout_start": None, "heldout_end": None}
    by_language: dict[str, int] = {}
    start = 1
    best_file = None

    # rank 0 sets an unreadable state aside (and starts from scratch); the others follow it
    saved = guard.recover(state_dir, load_state, log) if ctx.is_main else None
    ctx.barrier()
    if not ctx.is_main:
        saved = load_state(state_dir)
    if saved is not None and saved[0].get("fingerprint") != fingerprint:
        log(f"ignoring the saved state in {state_dir}: it belongs to other settings "
            f"(fingerprint {saved[0].get('fingerprint')} != {fingerprint})")
        ctx.barrier()
        if ctx.is_main:
            clear_state(state_dir)
        saved = None
    if saved is not None:
        meta, tens, best_saved = saved
        model.load_state_dict(tens["model"])
        opt.load_state_dict(tens["optimizer"])
        sched.load_state_dict(meta["scheduler"])
        for it, st in zip(iters, meta["iterators"]):
            it.load_state(st)
        rng.setstate((meta["sampler_rng"][0], tuple(meta["sampler_rng"][1]), meta["sampler_rng"][2]))
        rngs = meta["rng"]
        if len(rngs) != ctx.world:
            log(f"state saved with {len(rngs)} processes, now {ctx.world}: dropout RNG streams differ")
        _set_rng_states(rngs[ctx.rank % len(rngs)], device)
        best, best_step, bad = meta["best"], meta["best_step"], meta["bad"]
        best_state = best_saved if ctx.is_main else None
        best_file = meta["files"].get("best")
        history = meta["history"]
        offset = meta["cost"]
        mlm_cost.update(meta.get("mlm_cost") or {})
        by_language.update(meta.get("by_language") or {})
        if mlm_iter is not None:
            mlm_iter.load_state(meta["mlm_iterator"])
        resumed_from = meta.get("resumed_from", []) + [meta["step"]]
        start = meta["step"] + 1
        log(f"resumed from step {meta['step']}/{total} (state {state_dir}; best dev {best:.4f} "
            f"at step {best_step})")

    net = distributed.wrap(model, ctx, find_unused=len(tasks) > 1 or mlm is not None)
    if mlm is not None and mlm_cost["heldout_start"] is None:
        mlm_cost["heldout_start"] = mlm.heldout_loss(model, device, dtype)
        log(f"held-out MLM loss before training: {mlm_cost['heldout_start']:.4f}")

    def cost_now() -> dict:
        c = meter.result(best_step=best_step, stopped_early=stopped_early)
        ex, tok, fl = ctx.sum([meter.examples, meter.tokens, meter.flops])
        wall = offset["wall_s"] + c["wall_s"]
        c.update({"steps": offset["steps"] + int(meter.steps), "examples": offset["examples"] + int(ex),
                  "tokens": offset["tokens"] + int(tok), "flops": offset["flops"] + fl, "wall_s": wall,
                  "device_hours": offset["device_hours"] + c["device_hours"],
                  "peak_mem_mb": max(offset["peak_mem_mb"], c["peak_mem_mb"])})
        c["tokens_per_s"] = c["tokens"] / wall if wall > 0 else 0.0
        c["micro_steps"] = offset.get("micro_steps", 0) + micro_done[0]  # passes; "steps": optimizer steps
        c["micro_batch_size"] = micro_batch_size
        return c

    def save(step: int) -> None:
        nonlocal best_file
        rngs = ctx.gather(_rng_states(device))
        c = cost_now()
        if ctx.is_main:
            meta = {"version": STATE_VERSION, "fingerprint": fingerprint, "step": step, "total": total,
                    "phase": phase, "world_size": ctx.world, "best": best, "best_step": best_step,
                    "bad": bad, "history": history, "iterators": [it.state() for it in iters],
                    "sampler_rng": [rng.getstate()[0], list(rng.getstate()[1]), rng.getstate()[2]],
                    "rng": rngs, "scheduler": sched.state_dict(), "resumed_from": resumed_from,
                    "cost": {k: c[k] for k in offset}, "mlm_cost": mlm_cost, "by_language": by_language,
                    "mlm_iterator": mlm_iter.state() if mlm_iter is not None else None,
                    "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
            tens = {"model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                    "optimizer": opt.state_dict()}
            best_file = save_state(state_dir, meta, tens, best_state, best_file)
        ctx.barrier()  # no rank leaves (and gets its siblings killed) before the state is written

    bar = tqdm(range(start, total + 1), desc=f"{phase} {'+'.join(t.task.name for t in tasks)}",
               mininterval=5, disable=None if ctx.is_main else True)
    with _StopFlag(log) as stop:
        for step in bar:
            net.train()
            # the mixture: an MLM step (a +mlm intermediate), else one of the tasks
            is_mlm = mlm is not None and rng.random() < mlm.share
            if is_mlm:
                feats_all = [mlm.train[j] for j in mlm_iter.next()]
            else:
                k = rng.choices(range(len(tasks)), weights)[0] if len(tasks) > 1 else 0
                td = tasks[k]
                picked = iters[k].next()
                feats_all = [td.train[j] for j in picked]
                if td.languages is not None:
                    for j in picked:
                        by_language[td.languages[j]] = by_language.get(td.languages[j], 0) + 1
            feats = distributed.shard(feats_all, ctx.rank, ctx.world)
            n_local = distributed.shard_size(len(feats_all), ctx.rank, ctx.world)
            w = distributed.loss_weight(len(feats_all), ctx.rank, ctx.world)
            # gradient accumulation: micro-batches of the (effective) batch, each loss weighted
            # by its share of the batch, one optimizer step
            mbs = int(micro_batch_size or len(feats) or 1)
            chunks = [feats[i:i + mbs] for i in range(0, len(feats), mbs)] or [feats]
            loss, n_tokens, seq_lens = 0.0, 0, []
            for i, chunk in enumerate(chunks):
                batch = (mlm.collate(chunk, f"{step}:{ctx.rank}:{i}") if is_mlm
                         else td.family.collate(chunk, pad_id))
                mask = batch["attention_mask"]
                n_tokens += int(mask.sum())  # on the host: no device sync per step
                seq_lens += [mask.shape[-1]] * (mask.shape[0] * mask.shape[1])
                batch = _to(batch, device)
                # DDP: the gradients are all-reduced once per optimizer step, in the last pass
                with distributed.grad_sync(net, last=i == len(chunks) - 1):
                    with autocast(device, dtype):
                        if is_mlm:
                            part_loss = mlm.loss(net, batch)
                        else:
                            logits = net(td.task.name, td.family, batch["input_ids"], batch["attention_mask"])
                            part_loss = td.family.loss(logits.float(), batch["labels"])
                        part_loss = part_loss * (len(chunk) / max(len(feats), 1))
                    (part_loss * w if ctx.enabled else part_loss).backward()
                loss = loss + part_loss.detach()
                micro_done[0] += 1
            # the step's loss is finite iff every pass's is: one host sync per optimizer step
            # (not per micro-batch); a non-finite one leaves the weights as they were
            if finite.skip(loss, step, ctx):
                opt.zero_grad(set_to_none=True)
                continue
            torch.nn.utils.clip_grad_norm_(model.parameters(), float(hp["grad_clip"]))
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            fl = meter.step(tokens=n_tokens, examples=n_local,  # a padding-only rank still computed
                            seq_lens=seq_lens, forward=mlm_forward if is_mlm else None)
            if is_mlm:
                mlm_loss = float(loss)  # one host sync per MLM step (the finite check made one)
                mlm_cost.update(steps=mlm_cost["steps"] + 1, tokens=mlm_cost["tokens"] + n_tokens,
                                sequences=mlm_cost["sequences"] + n_local, flops=mlm_cost["flops"] + fl,
                                loss_last=mlm_loss)
                if mlm_cost["loss_first"] is None:
                    mlm_cost["loss_first"] = mlm_loss
            if step % eval_every == 0 or step == total:
                loss_sum, n_sum = ctx.sum([loss.item() * n_local, n_local])
                gloss = loss_sum / n_sum
                scores = [dev_score(model, t, bs * 2, device, dtype, pad_id, ctx) for t in tasks if t.dev]
                score = float(np.mean(scores)) if scores else -gloss
                history.append({"step": step, "loss": gloss, "dev": score})
                if mlm is not None:
                    history[-1]["mlm_heldout"] = mlm_cost["heldout_end"] = mlm.heldout_loss(model, device, dtype)
                bar.set_postfix(loss=f"{gloss:.3f}", dev=f"{score:.3f}")
                log(f"step {step}/{total} loss {gloss:.4f} dev {score:.4f}"
                    + (f" held-out MLM {mlm_cost['heldout_end']:.4f}" if mlm is not None else ""))
                if score > best:
                    best, best_step, bad = score, step, 0
                    if ctx.is_main:
                        best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
                else:
                    bad += 1
                    if bad >= patience:
                        stopped_early = True
                        log(f"early stop at step {step}: no dev gain for {patience} evaluations")
                        break
            stopping = ctx.any(stop.signum is not None) if ctx.enabled else stop.signum is not None
            stopping = stopping and step < total  # the last step: finishing beats saving
            if state_dir and step < total and (stopping or clock.due(step, ctx)):
                save(step)
                clock.saved()
                if not stopping:
                    log(f"state saved at step {step} -> {state_dir}")
            if stopping:
                signum = stop.signum or signal.SIGTERM
                log(f"stopping after step {step}/{total} on {signal.Signals(signum).name}"
                    + (f"; rerun to resume from {state_dir}" if state_dir else ""))
                raise Preempted(signum, step, state_dir)
            if sleep:
                time.sleep(sleep)
    if best_state is not None:
        model.load_state_dict(best_state)
    cost = cost_now()
    cost.update({"planned_steps": total, "best_dev": best, "history": history,
                 "tasks": [t.task.name for t in tasks], "sampling": sampling if len(tasks) > 1 else None,
                 "hparams": {k: hp[k] for k in sorted(hp)}, "seed": seed, "dtype": dtype,
                 "world_size": ctx.world, "resumed_from": resumed_from,
                 "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")})
    if by_language:
        cost["examples_by_language"] = {k: int(v) for k, v in sorted(by_language.items())}
    if mlm is not None:
        mlm_flops = ctx.sum([mlm_cost["flops"]])[0] if ctx.enabled else mlm_cost["flops"]
        cost["mlm"] = {**mlm_cost, "flops": float(mlm_flops), "ratio": mlm.ratio,
                       "probability": mlm.probability, "batch_size": mlm.batch_size,
                       "head": mlm.head_source}
    return cost


# ---------------------------------------------------------------------------- the stage
def task_data(cfg, bound, model: str, with_dev: bool = True) -> TaskData:
    """A bound task's tokenized features in the cache of ``model``'s tokenizer."""
    from xstilts.core import paths
    from xstilts.stages.data import read_features, task_with_labels

    d = paths.data_dir(cfg.tokenizer_of(model), bound.name)
    task = task_with_labels(bound.task, d)  # an open label set is known from the data
    return TaskData(task, bound.family, read_features(paths.data_file(d, paths.TRAIN)),
                    read_features(paths.data_file(d, paths.DEV)) if with_dev else [],
                    options=dict(bound.options))


def with_translations(cfg, td: TaskData, model: str) -> TaskData:
    """A ``+translate`` intermediate's training data: the English features and the translated
    ones of every other language (``stages/translate``), each feature with its language."""
    from dataclasses import replace

    from xstilts.core import paths
    from xstilts.stages.data import read_features

    d = paths.translate_dir(cfg.tokenizer_of(model), td.task.name)
    manifest = json.loads(Path(paths.manifest_file(d)).read_text())
    train, langs = list(td.train), ["en"] * len(td.train)
    for part, info in sorted(manifest["parts"].items()):
        feats = read_features(paths.data_file(d, part))
        train += feats
        langs += [info["language"]] * len(feats)
    return replace(td, train=train, languages=langs)


def resume_key(init_dir: str, random_init: bool) -> str:
    """A saved state is reused only if it was trained from the same initial checkpoint."""
    from xstilts.core import paths

    init_cost = Path(paths.checkpoint_done(init_dir))
    return f"{init_dir}|{random_init}|" + (file_digest(init_cost) if init_cost.exists() else "")


def run(cfg, out: str | None = None, cell=None, model: str | None = None, inter: str | None = None,
        seed: int | None = None) -> dict:
    """The ``intermediate`` stage (``model``, ``inter``, ``seed``) or, given a ``cell``, the
    ``target`` stage: train, save the checkpoint and its ``cost.json``."""
    import sys

    from xstilts.core import paths
    from xstilts.core.records import CostRecord
    from xstilts.stages import mlm as continued
    from xstilts.stages.common import log
    from xstilts.stages.models import XstiltsModel, load_encoder, load_tokenizer

    if cell is not None:  # target phase
        model_name, seed, phase = cell.model, cell.seed, "target"
        init_dir, random_init, task_names = cell.start, cell.inter.random_init, [cell.target]
        out = out or cell.model_dir
        extra = {"inter": cell.inter.name, "target": cell.target}
        variant = None  # the +mlm / +translate variants are intermediate phases
    else:
        resolved = variant = cfg.inter(inter)
        model_name, phase = model, "intermediate"
        init_dir, random_init, task_names = paths.base_dir(model), False, list(resolved.tasks)
        out = out or paths.inter_dir(model, resolved.name, seed)
        extra = {"inter": resolved.name}
    device = cfg.runtime.start()
    # one writer per state: a second trainer refuses here, naming the holder
    lock = guard.acquire(paths.state_dir(out), log) if distributed.is_main_process() else None
    bounds = [cfg.bound(t, phase) for t in task_names]
    tds = [task_data(cfg, b, model_name) for b in bounds]
    if variant is not None and variant.translate:
        tds = [with_translations(cfg, td, model_name) for td in tds]
    set_seed(seed)  # head initialisation independent of what ran before in this process
    net = XstiltsModel(load_encoder(init_dir, random_init=random_init, seed=seed))
    for td in tds:
        net.add_head(td.task, td.family)
    tok = load_tokenizer(paths.tokenizer_dir(cfg.tokenizer_of(model_name)))
    mlm = None
    if variant is not None and variant.mlm:
        mlm = continued.load(cfg, model_name, int(bounds[0].hparams["batch_size"]), tok, seed)
        net.heads[continued.MLM_HEAD] = mlm.make_head(net.encoder, continued.pretrained_head(cfg, model_name))
    mt = cfg.sampling
    state = paths.state_dir(out)
    try:
        # multi-task: one step budget for the mixture (the first task's phase settings)
        cost = train_phase(net, tds, bounds[0].hparams, phase=phase, seed=seed, device=device,
                           dtype=cfg.runtime.dtype_on(device), pad_id=tok.pad_token_id, sampling=mt["sampling"],
                           temperature=float(mt["temperature"]), log=log, state_dir=state,
                           resume_key=resume_key(init_dir, random_init), compile=cfg.runtime.compile,
                           micro_batch_size=cfg.micro_batch_size(model_name), mlm=mlm)
    except Preempted as err:
        log(str(err))
        if lock:  # the state is complete: the rerun (this process or another) may take it
            lock.release()
        distributed.teardown()
        sys.exit(err.exit_code)  # non-zero: SLURM requeues / Snakemake retries, then resumes
    if mlm is not None:  # the MLM head is not part of the intermediate checkpoint
        continued.drop_head(net)
    if distributed.is_main_process():
        net.save(out, tokenizer=tok)
        guard.fault_point("checkpoint")
        cost.update({"model": model_name, "init": init_dir, "random_init": random_init,
                     "benchmark": cfg.benchmark, **extra})
        CostRecord.from_dict(cost).write(paths.checkpoint_done(out))
        clear_state(state)  # the checkpoint is complete: the resumable state is obsolete
        if lock:
            lock.release()
        log(f"{phase} {'+'.join(task_names)}: best dev {cost['best_dev']:.3f} at step "
            f"{cost['best_step']}/{cost['steps']} in {cost['wall_s']:.0f}s -> {out}")
        if cell is not None and out == cell.model_dir:  # the evaluate job adopts this
            from xstilts.stages.evaluate import stage_after_training

            stage_after_training(cfg, cell, net, tok.pad_token_id, device)
    distributed.teardown()
    return cost

"""Guards of a training state folder and of the checkpoints a phase reads.

* :class:`StateLock`: one writer per training state.  The lock file ``<state>/LOCK`` names its
  holder (pid, host, SLURM job id); a second trainer refuses with that name.  A lock whose holder
  is a dead process on this host is stale: it is taken over, with a log line.
* :func:`recover`: a state that cannot be read (truncated tensors, a partial ``state.json``) is
  set aside to ``<state>.corrupt-<time>`` with a warning, and training starts from scratch (the
  state folder holds one state: the last good one is the one that failed to read).
* :func:`clear`: delete a finished phase's state, keeping the lock while it is held, and the
  folders it leaves empty under ``results/state``.
* :func:`checkpoint_error`: a truncated or unreadable upstream checkpoint, as an
  :class:`InputError` naming the file and the rule that writes it.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import time
from pathlib import Path

from xstilts.core import paths
from xstilts.core.errors import InputError

LOCK_FILE = "LOCK"


class StateLocked(InputError):
    """Another trainer holds the state folder."""


def _holder() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "job": os.environ.get("SLURM_JOB_ID"),
            "since": time.strftime("%Y-%m-%dT%H:%M:%S")}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


def _describe(h: dict) -> str:
    job = f", job {h['job']}" if h.get("job") else ""
    return f"pid {h.get('pid')} on {h.get('host')}{job}, since {h.get('since')}"


class StateLock:
    """The lock of one state folder; :meth:`acquire` raises :class:`StateLocked` when another
    live trainer holds it.  Released by :meth:`release` (also at interpreter exit)."""

    def __init__(self, state_dir: str, log=print):
        self.dir, self.log = Path(state_dir), log
        self.file = self.dir / LOCK_FILE
        self.held = False

    def _create(self) -> bool:
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as fh:
            json.dump(_holder(), fh)
        return True

    def _read(self) -> dict:
        try:
            return json.loads(self.file.read_text())
        except (OSError, ValueError):
            return {}

    def acquire(self) -> "StateLock":
        for _ in range(3):
            if self._create():
                break
            h = self._read()
            if not h:  # half-written by a process that died at once, or removed meanwhile
                if self.file.exists() and time.time() - self.file.stat().st_mtime > 5:
                    self.file.unlink(missing_ok=True)
                else:
                    time.sleep(0.2)
                continue
            same_host = h.get("host") == socket.gethostname()
            if same_host and isinstance(h.get("pid"), int) and not _alive(h["pid"]):
                self.log(f"taking over the stale lock of {self.dir} (holder {_describe(h)} is dead)")
                self.file.unlink(missing_ok=True)
                continue
            raise StateLocked(
                f"{self.file}: the training state is held by another trainer ({_describe(h)}); "
                f"wait for it to finish, or stop it"
                + ("" if same_host else "; if that job is gone for good, delete the lock file"))
        else:
            raise StateLocked(f"{self.file}: could not take the lock (it keeps changing)")
        self.held = True
        atexit.register(self.release)
        return self

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        if self._read().get("pid") == os.getpid():
            self.file.unlink(missing_ok=True)
        prune_empty(self.dir)


def acquire(state_dir: str | None, log=print) -> StateLock | None:
    return StateLock(state_dir, log).acquire() if state_dir else None


def prune_empty(d: Path) -> None:
    """Remove ``d`` if empty, and its parents while empty up to ``results/state`` (included)."""
    stop = (Path(paths.RESULTS) / "state").resolve()
    d = Path(d).resolve()
    while True:
        try:
            d.rmdir()
        except OSError:  # not empty, or gone
            return
        if d == stop or stop not in d.parents:
            return
        d = d.parent


def clear(state_dir: str | None) -> None:
    """Delete a phase's state (the lock stays while it is held) and the empty folders left."""
    if not state_dir or not Path(state_dir).exists():
        return
    d = Path(state_dir)
    for p in d.iterdir():
        if p.name == LOCK_FILE:
            continue
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    prune_empty(d)


def set_aside(state_dir: str, reason: str, log=print) -> Path:
    """Move every file of a state (but its lock) to ``<state>.corrupt-<time>``."""
    d = Path(state_dir)
    dest = d.with_name(f"{d.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
    dest.mkdir(parents=True, exist_ok=True)
    for p in d.iterdir():
        if p.name != LOCK_FILE:
            os.replace(p, dest / p.name)
    log(f"WARNING: the training state in {d} cannot be read ({reason}); set aside to {dest}, "
        f"training starts from scratch")
    return dest


def recover(state_dir: str | None, load, log=print):
    """``load(state_dir)``, or ``None`` after setting an unreadable state aside."""
    try:
        return load(state_dir)
    except Exception as err:  # noqa: BLE001 - any unreadable state: truncated, partial, foreign
        set_aside(state_dir, f"{type(err).__name__}: {str(err)[:200]}", log)
        return None


def producer(ckpt_dir: str) -> str:
    """The rule that writes a checkpoint directory (for error messages)."""
    parts = Path(ckpt_dir).as_posix().split("/")
    if "base" in parts and "models" in parts:
        return "base"
    if "inter" in parts and "models" in parts:
        return "intermediate"
    return "target"


def checkpoint_error(ckpt_dir: str, err: Exception, file: str | None = None) -> InputError:
    """An unreadable upstream checkpoint, naming the file and the rule to rerun (or to run, when
    it is not there at all)."""
    where = file or f"{ckpt_dir}/encoder/model.safetensors"
    if not os.path.exists(where):
        return InputError(f"{where}: no such checkpoint; the `{producer(ckpt_dir)}` rule writes it "
                          f"(snakemake runs it first)")
    return InputError(
        f"{where}: cannot read the checkpoint ({type(err).__name__}: {str(err)[:200]}); it is "
        f"truncated or corrupt: delete {ckpt_dir} and rerun the `{producer(ckpt_dir)}` rule "
        f"(snakemake reruns it)")


# ---------------------------------------------------------------------------- in the loop
class SaveClock:
    """When the loop saves a resumable state: every ``save_every`` steps, or with
    ``save_every`` null every ``save_minutes`` of wall time (long real phases are protected,
    short toy phases never pay for a save).  Under DDP the ranks agree (rank 0's clock)."""

    def __init__(self, save_every, save_minutes: float = 10.0):
        self.every = None if save_every is None else int(save_every)
        self.seconds = float(save_minutes) * 60.0
        self.last = time.monotonic()

    def due(self, step: int, ctx=None) -> bool:
        if self.every is not None:
            return bool(self.every) and step % self.every == 0
        late = time.monotonic() - self.last >= self.seconds
        return ctx.any(late) if ctx is not None and ctx.enabled else late

    def saved(self) -> None:
        self.last = time.monotonic()


class Diverged(InputError):
    """The loss became non-finite more often than ``max_bad_steps`` allows."""


class FiniteGuard:
    """A step whose loss is not finite is skipped (no update) up to ``max_bad_steps`` times in a
    phase; one more stops the phase with :class:`Diverged` naming the step.  The loop asks once
    per optimizer step, with the loss summed over its micro-batches (one host sync per step)."""

    def __init__(self, max_bad_steps: int = 0, log=print):
        self.max_bad, self.bad, self.log = int(max_bad_steps), 0, log

    def skip(self, loss, step: int, ctx=None) -> bool:
        import torch

        bad = not bool(torch.isfinite(loss.detach()).all())
        if ctx is not None and ctx.enabled:
            bad = ctx.any(bad)
        if not bad:
            return False
        self.bad += 1
        if self.bad > self.max_bad:
            raise Diverged(f"step {step}: the training loss is {float(loss.detach().float().mean())} "
                           f"(non-finite; {self.bad} such step(s), hparams max_bad_steps allows "
                           f"{self.max_bad}): lower lr; in bfloat16, raise max_bad_steps to skip a few such steps")
        self.log(f"WARNING: step {step}: non-finite loss, update skipped "
                 f"({self.bad}/{self.max_bad} allowed)")
        return True


# ---------------------------------------------------------------------------- fault injection
FAULT_ENV = "XSTILTS_TEST_FAULT"  # "<point>:<n>": SIGKILL this process at the n-th pass of <point>
_passes: dict[str, int] = {}


def fault_point(name: str) -> None:
    """A point where the fault-injection tests kill the process (a no-op unless
    ``$XSTILTS_TEST_FAULT`` names it): ``state-save`` (tensors written, ``state.json`` not yet),
    ``checkpoint`` (weights written, ``cost.json`` not yet)."""
    spec = os.environ.get(FAULT_ENV)
    if not spec or spec.split(":")[0] != name:
        return
    _passes[name] = _passes.get(name, 0) + 1
    if _passes[name] >= int(spec.split(":")[1] if ":" in spec else 1):
        import signal

        os.kill(os.getpid(), signal.SIGKILL)

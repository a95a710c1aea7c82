"""Warm start for local runs: jobs fork from one helper that has already imported torch and
transformers, instead of each paying those imports (about 4.5 s of CPU per model job on 2 cores,
a quarter of the embedded default's job time).

With ``warm_start: true`` in the config and Snakemake's local executor (not SLURM, not a dry
run), the Snakefile starts the helper (:func:`start`) and points jobs at its socket with
``$XSTILTS_WARM``.  A job's ``xstilts`` command (:func:`client`) then hands the helper its
arguments, working directory, environment and standard streams; the helper forks, the fork runs
the stage exactly as the command would have (``xstilts.cli.main``), and the command exits with the
fork's status.  Killing the command (Snakemake cancelling a job) ends the fork.

A job runs cold, by itself as without a helper, when the helper is not up (it binds its socket
only once its imports are done), runs another Python, or was started with a different value of
an environment variable that a library reads when it is imported (``HF_*``, ``OMP_*``,
``HOME``, ...: :func:`import_env`), and always under SLURM or torchrun.  Results do not depend on
the route: every fork starts from the same state, because the helper runs no job itself and
imports no module of xstilts but this one.

Snakemake's benchmark file measures the command, not the fork: its wall time is the job's, its
CPU time and memory are the client's.  So the command writes the fork's own CPU time and peak
memory as the last line of the job's log (:func:`record_line`), and the aggregation takes them
from there (:func:`read_record`).  ``results/logs/warm.log`` has a line per job that reached the
helper: warm, or cold and why (jobs that start before the helper is ready are not in it).
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import struct
import sys
import time

ENV_VAR = "XSTILTS_WARM"  # the helper's socket, for the jobs of a local Snakemake run
# Set by Snakemake for each job from its rule's threads (snakemake/shell.py); the helper gets
# the values of the config's ``threads``, which every model rule of this workflow asks for.
THREAD_VARS = ("OMP_NUM_THREADS", "GOTO_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
# what the stages import: third-party only (a fork imports xstilts itself, so edited code counts)
PRELOAD = ("numpy", "tqdm", "pyarrow", "pyarrow.parquet", "torch", "safetensors.torch", "tokenizers",
           "transformers", "pandas", "matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg")
PRELOAD_NAMES = {"transformers": ("XLMRobertaConfig", "XLMRobertaModel", "PreTrainedTokenizerFast")}
# environment variables that libraries read at import time: a job runs warm only if they equal the helper's
_IMPORT_PREFIXES = ("HF_", "HUGGINGFACE", "TRANSFORMERS_", "TOKENIZERS_", "SAFETENSORS", "TORCH", "PYTORCH",
                    "CUDA", "NCCL", "OMP_", "KMP_", "MKL_", "OPENBLAS", "GOTO_", "VECLIB", "NUMEXPR",
                    "PYTHON", "LD_", "MPL", "XDG_", "ARROW", "TQDM")
_IMPORT_NAMES = ("HOME", "TMPDIR", "TMP", "TEMP", "TEMPDIR", "LANG", "LC_ALL")
# under these, jobs belong to a scheduler or a launcher, never to the helper
_NOT_HERE = ("SLURM_JOB_ID", "LOCAL_RANK", "TORCHELASTIC_RUN_ID")

RECORD = "xstilts: warm start: the fork of the helper used"
_RECORD_RE = re.compile(re.escape(RECORD) + r" ([0-9.]+) CPU s, max RSS ([0-9.]+) MB$")


def import_env(env) -> dict[str, str]:
    """The part of an environment that libraries read when they are imported."""
    return {k: v for k, v in env.items() if k.startswith(_IMPORT_PREFIXES) or k in _IMPORT_NAMES}


def _python() -> list[str]:
    return [os.path.realpath(sys.executable), sys.prefix]


def record_line(cpu_s: float, max_rss_mb: float) -> str:
    return f"{RECORD} {cpu_s:.2f} CPU s, max RSS {max_rss_mb:.1f} MB"


def read_record_text(text: str) -> tuple[float, float] | None:
    """``(cpu_s, max_rss_mb)`` of a job that ran warm, from the last line of its output, else None."""
    m = _RECORD_RE.match(text.rstrip("\n").rsplit("\n", 1)[-1])
    return (float(m.group(1)), float(m.group(2))) if m else None


def read_record(log_path) -> tuple[float, float] | None:
    """:func:`read_record_text` of a job's log file (its last 400 bytes); None without one."""
    try:
        with open(log_path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 400))
            return read_record_text(fh.read().decode("utf-8", "replace"))
    except OSError:
        return None


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


# ----------------------------------------------------------------------------- the job's side


def client(argv: list[str]) -> int | None:
    """Run ``xstilts argv`` in a fork of the helper: its exit status, or None to run cold."""
    path = os.environ.get(ENV_VAR)
    if not path or any(v in os.environ for v in _NOT_HERE):
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
        req = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ),
                          "python": _python()}).encode()
        socket.send_fds(sock, [struct.pack("!I", len(req))], [0, 1, 2])
        sock.sendall(req)
        route = sock.recv(1)
    except OSError:
        return None  # no helper (not up yet, or gone): cold
    if route != b"W":
        return None  # the helper says cold (another Python or environment)
    head = _recv_exact(sock, 8)
    if len(head) < 8:
        print("xstilts: the warm-start helper stopped before the job ended", file=sys.stderr)
        return 1
    status, size = struct.unpack("!iI", head)
    usage = json.loads(_recv_exact(sock, size))
    print(record_line(usage["cpu_s"], usage["max_rss_mb"]), file=sys.stderr)
    return status


# ----------------------------------------------------------------------------- the helper


def job_env(threads: int) -> dict[str, str]:
    """This process's environment as Snakemake's local executor hands it to a job of ``threads``
    threads (snakemake/shell.py: the thread variables, and the default ``tmpdir`` resource)."""
    import tempfile

    tmp = tempfile.gettempdir()
    return {**os.environ, **{v: str(threads) for v in THREAD_VARS},
            **{v: tmp for v in ("TMPDIR", "TMP", "TEMP", "TEMPDIR")}}


def start(threads: int, log: str):
    """Start the helper for the jobs of this process (the Snakemake run): sets ``$XSTILTS_WARM``.
    Returns the helper's process; :func:`stop` ends it (it also ends when this process does)."""
    import subprocess
    import tempfile

    os.makedirs(os.path.dirname(log) or ".", exist_ok=True)
    sock_dir = tempfile.mkdtemp(prefix="xstilts-warm-")  # mode 0700: only this user can connect
    path = os.path.join(sock_dir, "socket")
    env = job_env(threads)
    env.pop(ENV_VAR, None)
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "xstilts.warm", path, os.path.abspath(log)], env=env,
                                stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT)
    os.environ[ENV_VAR] = path
    return proc


def wait_ready(proc, log: str, timeout: float = 120.0) -> None:
    """Block until the helper :func:`start` returned has bound its socket (its imports done)."""
    t0 = time.time()
    while '"ready"' not in open(log).read():
        if proc.poll() is not None or time.time() - t0 > timeout:
            raise RuntimeError(f"the warm-start helper did not get ready:\n{open(log).read()[-3000:]}")
        time.sleep(0.1)


def stop(proc) -> None:
    os.environ.pop(ENV_VAR, None)
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except Exception:  # noqa: BLE001 - a helper that does not stop is killed
            proc.kill()


def _preload() -> None:
    import gc
    import importlib

    for name in PRELOAD:
        module = importlib.import_module(name)
        for attr in PRELOAD_NAMES.get(name, ()):
            getattr(module, attr)
    try:  # built by transformers on a process's first model load (about 1,000 regular expressions
        # of checkpoint-key conversions, 0.2 s): once here instead of in every fork
        from transformers.conversion_mapping import get_checkpoint_conversion_mapping

        get_checkpoint_conversion_mapping("xlm-roberta")
    except ImportError:  # another transformers version: each fork builds whatever it needs
        pass
    # the imported objects leave the garbage collector's view: a fork's collections would touch
    # every one of them and copy the helper's memory page by page (0.35 -> 0.09 s a light job)
    gc.collect()
    gc.freeze()


class _Helper:
    def __init__(self, path: str, log: str):
        self.path, self.log = path, log
        self.env = import_env(os.environ)
        self.python = _python()
        self.running: dict[int, tuple[socket.socket, float, list]] = {}

    def note(self, **rec) -> None:
        with open(self.log, "a") as fh:
            fh.write(json.dumps(rec) + "\n")

    def serve(self) -> None:
        parent = os.getppid()
        self.wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        self.wake_w = wake_w
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(64)
        self.note(event="ready", pid=os.getpid())
        try:
            while os.getppid() == parent:  # ends with the Snakemake run that started it
                ready, _, _ = select.select([self.listener, self.wake_r], [], [], 1.0)
                if self.wake_r in ready:
                    os.read(self.wake_r, 512)
                if self.listener in ready:
                    self.accept()
                self.reap()
        finally:
            self.listener.close()
            try:
                os.remove(self.path)
                os.rmdir(os.path.dirname(self.path))
            except OSError:
                pass

    def accept(self) -> None:
        conn, _ = self.listener.accept()
        fds: list[int] = []
        try:
            conn.settimeout(10)
            uid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[1]
            head, fds, _, _ = socket.recv_fds(conn, 4, 3)
            head += _recv_exact(conn, 4 - len(head))
            req = json.loads(_recv_exact(conn, struct.unpack("!I", head)[0]))
            why = self.cold_reason(uid, req, fds)
            if why:
                conn.sendall(b"C")
                self.note(event="cold", argv=req.get("argv"), why=why)
                return
            conn.sendall(b"W")
            conn.settimeout(None)
            pid = os.fork()
            if pid == 0:
                self.child(conn, fds, req)  # never returns
            self.running[pid] = (conn, time.time(), req["argv"])
            conn = None
        except (OSError, ValueError) as err:
            self.note(event="error", why=str(err))
        finally:
            for fd in fds:
                os.close(fd)
            if conn is not None:
                conn.close()

    def cold_reason(self, uid: int, req: dict, fds: list[int]) -> str:
        if uid != os.getuid():
            return f"another user (uid {uid})"
        if len(fds) != 3:
            return "standard streams missing"
        if req.get("python") != self.python:
            return f"another Python ({req.get('python')})"
        env = import_env(req.get("env", {}))
        diff = sorted(k for k in set(env) | set(self.env) if env.get(k) != self.env.get(k))
        return f"environment differs in {', '.join(diff)}" if diff else ""

    def reap(self) -> None:
        while self.running:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn, t0, argv = self.running.pop(pid)
            code = os.waitstatus_to_exitcode(status)
            code = 128 - code if code < 0 else code  # killed by a signal: as a shell reports it
            rec = {"cpu_s": round(usage.ru_utime + usage.ru_stime, 3), "max_rss_mb": round(usage.ru_maxrss / 1024, 1)}
            body = json.dumps(rec).encode()
            try:
                conn.sendall(struct.pack("!iI", code, len(body)) + body)
            except OSError:
                pass  # the job's command is gone (cancelled)
            conn.close()
            self.note(event="warm", argv=argv, status=code, wall_s=round(time.time() - t0, 3), **rec)

    def child(self, conn: socket.socket, fds: list[int], req: dict) -> None:
        import atexit
        import threading
        import traceback

        code = 1
        try:
            self.listener.close()
            signal.set_wakeup_fd(-1)
            os.close(self.wake_r)
            os.close(self.wake_w)
            for sig, handler in ((signal.SIGCHLD, signal.SIG_DFL), (signal.SIGTERM, signal.SIG_DFL),
                                 (signal.SIGINT, signal.default_int_handler)):
                signal.signal(sig, handler)
            for other in self.running.values():
                other[0].close()
            for i, fd in enumerate(fds):
                os.dup2(fd, i)
            for fd in fds:
                os.close(fd)
            fds.clear()
            os.chdir(req["cwd"])
            os.environ.clear()
            os.environ.update(req["env"])
            sys.argv = ["xstilts", *req["argv"]]

            def _watch():  # the command ended (killed by Snakemake): so does its job
                _recv_exact(conn, 1)
                os._exit(1)

            threading.Thread(target=_watch, daemon=True).start()
            from xstilts.cli import main

            code = main(req["argv"]) or 0
        except SystemExit as e:
            if e.code is None or isinstance(e.code, int):
                code = e.code or 0
            else:
                print(e.code, file=sys.stderr)
                code = 1
        except BaseException:  # noqa: BLE001 - a bug in a stage: its traceback, as a cold job prints it
            traceback.print_exc()
            code = 1
        finally:
            try:
                atexit._run_exitfuncs()
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)


def main(argv=None) -> int:
    """``python -m xstilts.warm SOCKET LOG``: the helper (started by :func:`start`)."""
    path, log = (sys.argv[1:] if argv is None else argv)
    helper = _Helper(path, log)  # takes the environment before the imports (torch sets variables)
    _preload()
    helper.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())

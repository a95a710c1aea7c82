"""Efficiency measurement: FLOPs (flop counter + analytic), latency, throughput, memory, traces.

Everything here is a plain function (or the small :class:`CostMeter` object) without global state.
All of it runs on CPU; the CUDA paths are used when ``device`` is a CUDA device.

FLOPs
-----
A multiply-accumulate counts as 2 FLOPs (the convention of ``torch.utils.flop_counter``).
:func:`analytic_forward_flops` gives the closed form for an XLM-R/BERT-style encoder and
:func:`counted_forward_flops` counts the real forward pass with ``FlopCounterMode``.

``FlopCounterMode`` has no formula for the fused CPU flash-attention kernel behind
``scaled_dot_product_attention``: under ``attn_implementation="sdpa"`` on CPU the attention score
and weighted-sum matmuls (``4·L·T²·d`` per sequence) are silently missing from the count (measured
with torch 2.13: a 2-layer d=64 encoder at T=32, batch 2 counts 12,599,296 FLOPs under sdpa vs
13,647,872 under eager, which is exactly the analytic count). :func:`counted_forward_flops`
therefore switches every HF config inside the model to eager attention for the count and restores
the previous setting afterwards.

Timing
------
Warm-up calls, then ``repeats`` timed calls; percentiles are numpy's (linear interpolation) over the
recorded per-call times. On CUDA each call is bracketed by CUDA events and the device is
synchronised before the times are read; on CPU ``time.perf_counter`` is used.

Memory
------
CUDA: ``torch.cuda.reset_peak_memory_stats`` before, ``torch.cuda.max_memory_allocated`` after
(bytes held by tensors through the caching allocator; the allocator's reserved-but-free memory and
the CUDA context are not included).

CPU: there is no allocator statistic, and ``tracemalloc`` does not see torch's C++ allocations. On
Linux the kernel's resident-set high-water mark of the process (``VmHWM`` in ``/proc/self/status``,
which is also what ``ru_maxrss`` reports) *can* be reset to the current RSS by writing ``5`` to
``/proc/self/clear_refs``. So we reset it, run the call, and report

* ``peak_rss_mb``: the process's peak resident set size during the call (whole process:
  interpreter, torch libraries, model weights, activations, anything else alive),
* ``increase_mb``: that peak minus the RSS just before the call (memory the call itself needed on
  top of what was already resident; freed-and-reused allocator memory makes this a lower bound),
* ``method``: ``"vmhwm_reset"``.

Where the reset is impossible (not Linux, or ``clear_refs`` not writable) the value is the peak of
the whole process lifetime (``ru_maxrss``), ``increase_mb`` is ``None`` and ``method`` is
``"ru_maxrss_lifetime"``. In both cases :func:`estimate_inference_memory_mb` gives a
parameter + activation estimate alongside.
"""

from __future__ import annotations

import contextlib
import glob
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from xstilts.core.records import CostRecord
from xstilts.core.runtime import autocast, dtype_name

__all__ = [
    "count_params",
    "encoder_config",
    "analytic_forward_flops",
    "analytic_training_flops",
    "counted_forward_flops",
    "eager_attention",
    "measure_latency",
    "measure_throughput",
    "measure_peak_memory",
    "estimate_inference_memory_mb",
    "write_trace",
    "profile_inference",
    "CostMeter",
    "peak_tflops",
    "mfu",
]

_MB = 1024.0 * 1024.0


# --------------------------------------------------------------------------------------------
# parameters
# --------------------------------------------------------------------------------------------
def count_params(model: nn.Module) -> dict[str, int]:
    """Count parameters: ``{"total", "embedding", "non_embedding"}``.

    ``embedding`` is the parameters of every ``nn.Embedding`` in the model (for XLM-R: the word,
    position and token-type embedding matrices; the embedding LayerNorm is *not* an embedding
    matrix and counts as non-embedding). Shared (tied) parameters count once.
    """
    seen: set[int] = set()
    total = 0
    for p in model.parameters():  # .parameters() already de-duplicates shared tensors
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    emb_seen: set[int] = set()
    embedding = 0
    for mod in model.modules():
        if isinstance(mod, nn.Embedding):
            for p in mod.parameters(recurse=False):
                if id(p) not in emb_seen:
                    emb_seen.add(id(p))
                    embedding += p.numel()
    return {"total": int(total), "embedding": int(embedding), "non_embedding": int(total - embedding)}


# --------------------------------------------------------------------------------------------
# analytic FLOPs
# --------------------------------------------------------------------------------------------
_CFG_KEYS = ("num_hidden_layers", "hidden_size", "intermediate_size", "num_attention_heads")


def _cfg_get(config: Any, key: str) -> int:
    if isinstance(config, Mapping):
        return int(config[key])
    return int(getattr(config, key))


def encoder_config(model: nn.Module) -> Any:
    """The first HF-style config found on ``model`` or its submodules that describes an encoder
    (has num_hidden_layers, hidden_size, intermediate_size, num_attention_heads)."""
    for mod in model.modules():
        cfg = getattr(mod, "config", None)
        if cfg is not None and all(hasattr(cfg, k) for k in _CFG_KEYS):
            return cfg
    raise ValueError("no encoder config (num_hidden_layers/hidden_size/...) found on the model")


def _lengths(seq_len: int | Iterable[int] | torch.Tensor, batch: int = 1) -> list[int]:
    if isinstance(seq_len, torch.Tensor):
        seq_len = seq_len.flatten().tolist()
    if isinstance(seq_len, (int, np.integer)):
        return [int(seq_len)] * int(batch)
    lens = [int(t) for t in seq_len]
    return lens * int(batch)


def analytic_forward_flops(
    config: Any,
    seq_len: int | Sequence[int],
    batch: int = 1,
    head_params: int = 0,
    head_per_token: bool = False,
) -> float:
    """Analytic forward FLOPs of an XLM-R/BERT-style encoder (+ optional head).

    With ``L = num_hidden_layers``, ``d = hidden_size``, ``f = intermediate_size``, ``T`` the
    (padded) length of one sequence and ``N`` the number of sequences::

        per-token linear weights   P_tok = L · (4·d² + 2·d·f)      # Q, K, V, O + FFN in/out
        linear                     2 · P_tok · Σ_n T_n
        attention (QKᵀ and A·V)    Σ_n 4 · L · T_n² · d           # 2·T²·d each, over all heads
        head                       2 · head_params · N            # head on the CLS token only
                                   2 · head_params · Σ_n T_n      # if head_per_token
        embedding lookups          0

    Only the weight matrices count: biases, LayerNorm, softmax, GELU, residual adds are O(T·d)
    element-wise work and are ignored, as ``torch.utils.flop_counter`` ignores them, so the count
    is comparable to :func:`counted_forward_flops` with eager attention. ``head_params`` is the
    number of linear *weight* entries of the head (e.g. ``d*d`` for the XLM-R pooler,
    ``d*d + d*n_labels`` for a RoBERTa classification head).

    ``seq_len`` is one int (every one of the ``batch`` sequences has that length) or a list of
    per-sequence lengths (the list is repeated ``batch`` times). Multiple-choice inputs of shape
    (batch, choices, T) are ``batch*choices`` sequences. Training FLOPs are 3 × forward
    (:func:`analytic_training_flops`).
    """
    L = _cfg_get(config, "num_hidden_layers")
    d = _cfg_get(config, "hidden_size")
    f = _cfg_get(config, "intermediate_size")
    lens = _lengths(seq_len, batch)
    tokens = sum(lens)
    p_tok = L * (4 * d * d + 2 * d * f)
    linear = 2.0 * p_tok * tokens
    attention = float(sum(4 * L * t * t * d for t in lens))
    head = 2.0 * head_params * (tokens if head_per_token else len(lens))
    return float(linear + attention + head)


def analytic_training_flops(
    config: Any,
    seq_len: int | Sequence[int],
    batch: int = 1,
    head_params: int = 0,
    head_per_token: bool = False,
) -> float:
    """3 × :func:`analytic_forward_flops` (forward + backward ≈ 2 × forward)."""
    return 3.0 * analytic_forward_flops(config, seq_len, batch, head_params, head_per_token)


# --------------------------------------------------------------------------------------------
# counted FLOPs
# --------------------------------------------------------------------------------------------
@contextlib.contextmanager
def eager_attention(model: nn.Module):
    """Temporarily set ``_attn_implementation = "eager"`` on every HF config in ``model``.

    The previous values are restored on exit (also on error). HF attention modules read
    ``config._attn_implementation`` at forward time, so this switches the kernel without
    rebuilding the model.
    """
    saved: list[tuple[Any, Any]] = []
    seen: set[int] = set()
    for mod in model.modules():
        cfg = getattr(mod, "config", None)
        if cfg is None or id(cfg) in seen or not hasattr(cfg, "_attn_implementation"):
            continue
        seen.add(id(cfg))
        saved.append((cfg, cfg._attn_implementation))
        cfg._attn_implementation = "eager"
    try:
        yield
    finally:
        for cfg, impl in reversed(saved):
            cfg._attn_implementation = impl


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def _to_device(inputs: Mapping[str, Any], device: torch.device | str) -> dict[str, Any]:
    return {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in inputs.items()}


def counted_forward_flops(
    model: nn.Module, inputs: Mapping[str, Any], *, eager: bool = True
) -> float:
    """Total FLOPs of ``model(**inputs)`` counted by ``torch.utils.flop_counter.FlopCounterMode``.

    Runs one forward under ``torch.no_grad`` on the model's device. With ``eager=True`` (default)
    attention is switched to the eager implementation for the count (see module docstring: the
    CPU sdpa kernel is not counted) and switched back afterwards. Returns FLOPs for the whole
    batch, not per example.
    """
    from torch.utils.flop_counter import FlopCounterMode

    inputs = _to_device(inputs, _model_device(model))
    ctx = eager_attention(model) if eager else contextlib.nullcontext()
    was_training = model.training
    model.eval()
    try:
        with ctx, torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(**inputs)
    finally:
        model.train(was_training)
    return float(counter.get_total_flops())


# --------------------------------------------------------------------------------------------
# device helpers
# --------------------------------------------------------------------------------------------
def _device(device: torch.device | str | None) -> torch.device:
    return torch.device(device if device is not None else "cpu")


def _is_cuda(device: torch.device | str) -> bool:
    return _device(device).type == "cuda" and torch.cuda.is_available()


def _sync(device: torch.device | str) -> None:
    if _is_cuda(device):
        torch.cuda.synchronize(_device(device))


def _dtype_name(dtype: str | torch.dtype) -> str:
    return dtype_name(dtype)


def _device_name(device: torch.device | str) -> str:
    dev = _device(device)
    if _is_cuda(dev):
        return torch.cuda.get_device_name(dev)
    return platform.processor() or platform.machine() or "cpu"


# dense peak TFLOP/s by GPU name (vendor datasheets; no sparsity; float32 is the plain FP32
# rate, not TF32): the denominator of model FLOPs utilisation (MFU)
PEAK_TFLOPS = {
    "H200": {"bfloat16": 989.0, "float16": 989.0, "float32": 67.0},
    "H100 PCIe": {"bfloat16": 756.0, "float16": 756.0, "float32": 51.0},
    "H100": {"bfloat16": 989.0, "float16": 989.0, "float32": 67.0},
    "A100": {"bfloat16": 312.0, "float16": 312.0, "float32": 19.5},
    "L40S": {"bfloat16": 362.0, "float16": 362.0, "float32": 91.6},
    "A10": {"bfloat16": 125.0, "float16": 125.0, "float32": 31.2},
    "V100": {"float16": 125.0, "float32": 15.7},
}


def peak_tflops(device_name: str, dtype: str = "float32") -> float | None:
    """The datasheet peak of the first entry of :data:`PEAK_TFLOPS` whose key is in
    ``device_name`` (``None``: unknown device or dtype, e.g. a CPU)."""
    for key, peaks in PEAK_TFLOPS.items():
        if key in device_name:
            return peaks.get(_dtype_name(dtype))
    return None


def mfu(flops: float, seconds: float, device_name: str, dtype: str = "float32") -> float | None:
    """Model FLOPs utilisation: achieved FLOP/s over the device's peak (``None`` when unknown)."""
    peak = peak_tflops(device_name, dtype)
    if not peak or seconds <= 0:
        return None
    return flops / seconds / (peak * 1e12)


# --------------------------------------------------------------------------------------------
# latency
# --------------------------------------------------------------------------------------------
def _summary(samples_ms: Sequence[float]) -> dict[str, float]:
    arr = np.asarray(samples_ms, dtype=np.float64)
    p50, p90, p99 = np.percentile(arr, [50, 90, 99])
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "mean": float(arr.mean())}


def measure_latency(
    fn: Callable[[], Any],
    *,
    warmup: int = 5,
    repeats: int = 50,
    device: torch.device | str = "cpu",
    clock: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """Time ``fn()``: ``warmup`` untimed calls, then ``repeats`` timed calls.

    Returns ``{"p50", "p90", "p99", "mean"}`` in milliseconds (numpy percentiles, linear
    interpolation, over the recorded per-call times) plus ``"min"``, ``"max"``, ``"n"`` and the
    raw ``"samples_ms"``. On CUDA each call is bracketed by CUDA events and the device is
    synchronised before the elapsed times are read. On CPU ``clock`` (seconds; default
    ``time.perf_counter``) is read before and after each call.
    """
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    if _is_cuda(device):
        dev = _device(device)
        torch.cuda.synchronize(dev)
        events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
                  for _ in range(repeats)]
        for start, end in events:
            start.record()
            fn()
            end.record()
        torch.cuda.synchronize(dev)
        samples = [float(s.elapsed_time(e)) for s, e in events]
    else:
        clock = clock or time.perf_counter
        for _ in range(repeats):
            t0 = clock()
            fn()
            samples.append((clock() - t0) * 1000.0)
    out: dict[str, Any] = _summary(samples)
    out.update({"min": float(min(samples)), "max": float(max(samples)), "n": len(samples),
                "samples_ms": samples})
    return out


# --------------------------------------------------------------------------------------------
# throughput
# --------------------------------------------------------------------------------------------
def _n_examples(inputs: Mapping[str, Any]) -> int:
    for key in ("input_ids", "inputs_embeds", "attention_mask"):
        v = inputs.get(key)
        if isinstance(v, torch.Tensor):
            return int(v.shape[0])
    for v in inputs.values():
        if isinstance(v, torch.Tensor):
            return int(v.shape[0])
    raise ValueError("cannot infer the batch size from the inputs")


def _is_oom(err: BaseException) -> bool:
    oom = getattr(torch.cuda, "OutOfMemoryError", None)
    return (oom is not None and isinstance(err, oom)) or "out of memory" in str(err).lower()


def measure_throughput(
    model: nn.Module,
    make_inputs: Callable[[int], Mapping[str, Any]],
    batch_sizes: Sequence[int] = (1, 8, 32),
    *,
    device: torch.device | str = "cpu",
    dtype: str | torch.dtype = "float32",
    min_time_s: float = 1.0,
    min_iters: int = 3,
    warmup: int = 1,
) -> dict[str, Any]:
    """Inference throughput of ``model(**make_inputs(bs))`` for each batch size.

    For each batch size: ``warmup`` untimed forwards, then forwards until at least ``min_time_s``
    seconds and ``min_iters`` iterations have passed (synchronising on CUDA before reading the
    clock). Runs under ``torch.inference_mode`` and autocast for bf16/fp16. A CUDA out-of-memory at
    some batch size is recorded (``{"oom": true}``) and larger sizes are skipped.

    Returns ``{"best_batch", "examples_per_s", "per_batch": {bs: {"examples_per_s",
    "ms_per_batch", "iters", "seconds"}}}`` (``per_batch`` keys are strings, JSON-ready).
    """
    dev = _device(device)
    per_batch: dict[str, dict[str, Any]] = {}
    was_training = model.training
    model.eval()
    try:
        for bs in batch_sizes:
            inputs = _to_device(make_inputs(int(bs)), dev)
            n_ex = _n_examples(inputs)
            try:
                with torch.inference_mode(), autocast(dev, dtype):
                    for _ in range(warmup):
                        model(**inputs)
                    _sync(dev)
                    iters = 0
                    t0 = time.perf_counter()
                    while True:
                        model(**inputs)
                        iters += 1
                        if iters >= min_iters:
                            _sync(dev)
                            elapsed = time.perf_counter() - t0
                            if elapsed >= min_time_s:
                                break
            except RuntimeError as err:
                if _is_cuda(dev) and _is_oom(err):
                    per_batch[str(bs)] = {"oom": True}
                    del inputs
                    torch.cuda.empty_cache()
                    break
                raise
            per_batch[str(bs)] = {
                "examples_per_s": n_ex * iters / elapsed,
                "ms_per_batch": 1000.0 * elapsed / iters,
                "iters": iters,
                "seconds": elapsed,
                "examples": n_ex,
            }
    finally:
        model.train(was_training)
    ok = {k: v for k, v in per_batch.items() if not v.get("oom")}
    if not ok:
        raise RuntimeError("no batch size ran (all out of memory?)")
    best = max(ok, key=lambda k: ok[k]["examples_per_s"])
    return {"best_batch": int(best), "examples_per_s": ok[best]["examples_per_s"],
            "per_batch": per_batch}


# --------------------------------------------------------------------------------------------
# memory
# --------------------------------------------------------------------------------------------
def _proc_status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_cpu_peak() -> bool:
    """Reset the process's RSS high-water mark (Linux ``clear_refs`` 5). True if it worked."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return _proc_status_kb("VmHWM") is not None


def _lifetime_peak_rss_mb() -> float:
    import resource  # Unix only; only reached when the VmHWM reset is unavailable

    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is KiB on Linux, bytes on macOS
    return kb / 1024.0 / (1024.0 if sys.platform == "darwin" else 1.0)


class _PeakMemory:
    """Start/stop peak-memory window (CUDA allocator peak or CPU process peak RSS)."""

    def __init__(self, device: torch.device | str):
        self.device = _device(device)

    def start(self) -> None:
        if _is_cuda(self.device):
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.base_mb = torch.cuda.memory_allocated(self.device) / _MB
            self.method = "cuda_max_memory_allocated"
        else:
            self.reset_ok = _reset_cpu_peak()
            rss = _proc_status_kb("VmRSS")
            self.base_mb = rss / 1024.0 if rss is not None else None
            self.method = "vmhwm_reset" if self.reset_ok else "ru_maxrss_lifetime"

    def stop(self) -> dict[str, Any]:
        if _is_cuda(self.device):
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device) / _MB
            return {"peak_mb": peak, "increase_mb": peak - self.base_mb, "method": self.method}
        if self.reset_ok:
            peak = _proc_status_kb("VmHWM") / 1024.0
            inc = peak - self.base_mb if self.base_mb is not None else None
        else:
            peak, inc = _lifetime_peak_rss_mb(), None
        return {"peak_mb": peak, "increase_mb": inc, "method": self.method}


def measure_peak_memory(fn: Callable[[], Any], *, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Peak memory while ``fn()`` runs: ``{"peak_mb", "increase_mb", "method"}``.

    CUDA: ``max_memory_allocated`` after ``reset_peak_memory_stats`` (``increase_mb`` = peak minus
    what was allocated before). CPU: peak RSS of the whole process after resetting the kernel's
    high-water mark (``increase_mb`` = peak minus RSS before); if the reset is impossible, the
    lifetime ``ru_maxrss`` and ``increase_mb=None``. See the module docstring.
    """
    meter = _PeakMemory(device)
    meter.start()
    fn()
    return meter.stop()


def estimate_inference_memory_mb(
    config: Any, n_params: int, batch: int, seq_len: int, bytes_per_el: int = 4, sequences_per_example: int = 1
) -> dict[str, float]:
    """Rough parameter + activation estimate for one inference forward (no autograd graph).

    ``params_mb = n_params · bytes``; the activation working set of one layer is taken as
    ``N·T·(4·d + f) + 2·N·h·T²`` elements (layer input, Q/K/V, FFN intermediate, attention scores
    and probabilities) with ``N = batch · sequences_per_example``. Only the live layer counts in
    inference mode. This is an order-of-magnitude number to put next to the measured peak.
    """
    d = _cfg_get(config, "hidden_size")
    f = _cfg_get(config, "intermediate_size")
    h = _cfg_get(config, "num_attention_heads")
    n = batch * sequences_per_example
    act = n * seq_len * (4 * d + f) + 2 * n * h * seq_len * seq_len
    params_mb = n_params * bytes_per_el / _MB
    act_mb = act * bytes_per_el / _MB
    return {"params_mb": params_mb, "activations_mb": act_mb, "total_mb": params_mb + act_mb}


# --------------------------------------------------------------------------------------------
# traces
# --------------------------------------------------------------------------------------------
def write_trace(
    step_fn: Callable[[], Any],
    trace_dir: str | os.PathLike,
    *,
    device: torch.device | str = "cpu",
    n_steps: int = 5,
    warmup_steps: int = 1,
    record_shapes: bool = True,
    profile_memory: bool = True,
) -> list[str]:
    """Profile ``n_steps`` calls of ``step_fn`` with ``torch.profiler`` and write the trace with
    ``tensorboard_trace_handler(trace_dir)``.

    ``trace_dir`` should be ``<logdir>/<run>``: TensorBoard + torch-tb-profiler (or Perfetto /
    chrome://tracing) read ``<logdir>/<run>/*.pt.trace.json``. Returns the trace files written;
    raises ``RuntimeError`` if none appeared.
    """
    from torch.profiler import ProfilerActivity, profile, schedule, tensorboard_trace_handler

    trace_dir = Path(trace_dir)
    trace_dir.mkdir(parents=True, exist_ok=True)
    before = set(glob.glob(str(trace_dir / "*.pt.trace.json*")))
    activities = [ProfilerActivity.CPU]
    if _is_cuda(device):
        activities.append(ProfilerActivity.CUDA)
    with profile(
        activities=activities,
        schedule=schedule(wait=0, warmup=warmup_steps, active=n_steps, repeat=1),
        on_trace_ready=tensorboard_trace_handler(str(trace_dir)),
        record_shapes=record_shapes,
        profile_memory=profile_memory,
    ) as prof:
        for _ in range(warmup_steps + n_steps):
            step_fn()
            _sync(device)
            prof.step()
    written = sorted(set(glob.glob(str(trace_dir / "*.pt.trace.json*"))) - before)
    if not written:
        raise RuntimeError(f"torch.profiler wrote no *.pt.trace.json under {trace_dir}")
    return written


# --------------------------------------------------------------------------------------------
# the inference profile
# --------------------------------------------------------------------------------------------
def _layer_param_ids(model: nn.Module, cfg: Any) -> set[int]:
    """ids of the parameters inside the transformer layer stack (the ``nn.ModuleList`` with
    ``num_hidden_layers`` entries that contains linear layers)."""
    n_layers = _cfg_get(cfg, "num_hidden_layers")
    ids: set[int] = set()
    for mod in model.modules():
        if isinstance(mod, nn.ModuleList) and len(mod) == n_layers and any(
            isinstance(m, nn.Linear) for m in mod.modules()
        ):
            ids |= {id(p) for p in mod.parameters()}
    return ids


def _head_linear_params(model: nn.Module, cfg: Any) -> int:
    """Weight entries of every ``nn.Linear`` outside the transformer layer stack (pooler and task
    heads)."""
    layer_ids = _layer_param_ids(model, cfg)
    return int(sum(m.weight.numel() for m in model.modules()
                   if isinstance(m, nn.Linear) and id(m.weight) not in layer_ids))


def profile_inference(
    model: nn.Module,
    make_inputs: Callable[[int], Mapping[str, Any]],
    out_dir: str | os.PathLike,
    *,
    device: torch.device | str = "cpu",
    dtype: str | torch.dtype = "float32",
    seq_len: int | None = None,
    batch_sizes: Sequence[int] = (1, 8, 32),
    warmup: int = 5,
    repeats: int = 50,
    min_time_s: float = 1.0,
    n_trace_steps: int = 5,
    run_name: str = "inference",
    head_params: int | None = None,
    head_per_token: bool = False,
) -> dict[str, Any]:
    """Profile inference of ``model`` and return the ``profile.json`` dict.

    ``make_inputs(batch_size)`` returns the keyword inputs of one batch (``input_ids`` of shape
    (batch, T) or (batch, choices, T), ``attention_mask`` ...). Steps:

    1. parameters (:func:`count_params`);
    2. FLOPs per example at batch 1: counted with eager attention, analytic with the encoder
       config found on the model, and their relative difference. ``head_params`` (linear weight
       entries of the head, applied once per sequence unless ``head_per_token``) defaults to
       every ``nn.Linear`` outside the transformer layer stack (pooler, task heads);
    3. latency at batch 1 (``warmup`` + ``repeats`` forwards);
    4. throughput over ``batch_sizes``;
    5. peak memory of one forward at batch 1 and at the best batch (see the module docstring),
       next to a parameter + activation estimate;
    6. a ``torch.profiler`` trace of ``n_trace_steps`` batch-1 forwards under
       ``out_dir/trace/<run_name>/`` (TensorBoard logdir = ``out_dir/trace``).

    The model is moved to ``device`` and put in eval mode (its training flag is restored at the
    end). Forwards run under ``torch.inference_mode`` and, for ``dtype`` bf16/fp16, autocast. The
    caller writes the record (``xstilts.core.records.InferenceProfile``).
    """
    dev = _device(device)
    dtype_name = _dtype_name(dtype)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.to(dev).eval()

    cfg = encoder_config(model)
    params = count_params(model)

    inputs1 = _to_device(make_inputs(1), dev)
    ids = inputs1.get("input_ids", inputs1.get("attention_mask"))
    if not isinstance(ids, torch.Tensor):
        raise ValueError("make_inputs must return input_ids or attention_mask tensors")
    t_actual = int(ids.shape[-1])
    if seq_len is not None and int(seq_len) != t_actual:
        raise ValueError(f"seq_len={seq_len} but make_inputs(1) gives sequences of length {t_actual}")
    n_ex1 = int(ids.shape[0])
    seqs_per_example = int(math.prod(ids.shape[1:-1])) if ids.dim() > 2 else 1

    if head_params is None:
        head_params = _head_linear_params(model, cfg)
    counted = counted_forward_flops(model, inputs1) / n_ex1
    analytic = analytic_forward_flops(cfg, t_actual, batch=seqs_per_example,
                                      head_params=head_params, head_per_token=head_per_token)
    rel = (counted - analytic) / analytic if analytic else float("nan")

    def forward1():
        with torch.inference_mode(), autocast(dev, dtype):
            return model(**inputs1)

    latency = measure_latency(forward1, warmup=warmup, repeats=repeats, device=dev)
    throughput = measure_throughput(model, make_inputs, batch_sizes, device=dev, dtype=dtype,
                                    min_time_s=min_time_s)

    mem1 = measure_peak_memory(forward1, device=dev)
    best_inputs = _to_device(make_inputs(throughput["best_batch"]), dev)

    def forward_best():
        with torch.inference_mode(), autocast(dev, dtype):
            return model(**best_inputs)

    mem_best = measure_peak_memory(forward_best, device=dev)
    del best_inputs
    bytes_per_el = 2 if dtype_name in ("bfloat16", "float16") else 4
    estimate = estimate_inference_memory_mb(cfg, params["total"], throughput["best_batch"], t_actual,
                                            bytes_per_el=4, sequences_per_example=seqs_per_example)
    # autocast keeps fp32 weights; activations are in the autocast dtype
    estimate["activations_mb"] *= bytes_per_el / 4
    estimate["total_mb"] = estimate["params_mb"] + estimate["activations_mb"]

    trace_root = out_dir / "trace"
    trace_files = write_trace(forward1, trace_root / run_name, device=dev, n_steps=n_trace_steps)

    model.train(was_training)
    latency_public = {k: latency[k] for k in ("p50", "p90", "p99", "mean", "min", "max", "n")}
    profile = {
        "params": params,
        "flops_per_example": {
            "counted": counted,
            "analytic": analytic,
            "rel_diff": rel,
            "seq_len": t_actual,
            "sequences_per_example": seqs_per_example,
            "head_params": int(head_params),
            "counter": "torch.utils.flop_counter (eager attention)",
            # the count runs with eager attention, so it includes QK^T and A.V (the served kernel
            # below may be sdpa, whose fused CPU kernel the counter cannot see)
            "includes_attention": True,
        },
        "attention": getattr(cfg, "_attn_implementation", None),
        "latency_ms": latency_public,
        "latency_batch": 1,
        "throughput": throughput,
        "peak_mem_mb": mem_best["peak_mb"],
        "memory": {
            "batch_1": mem1,
            "best_batch": mem_best,
            "estimate_best_batch": estimate,
        },
        "device": dev.type if dev.index is None else f"{dev.type}:{dev.index}",
        "device_name": _device_name(dev),
        "dtype": dtype_name,
        "threads": torch.get_num_threads(),
        "seq_len": t_actual,
        "batch_sizes": [int(b) for b in batch_sizes],
        "warmup": warmup,
        "repeats": repeats,
        "torch": torch.__version__,
        "trace_dir": str(trace_root),
        "trace_run": run_name,
        "trace_files": [str(Path(p)) for p in trace_files],
    }
    return profile


# --------------------------------------------------------------------------------------------
# training cost
# --------------------------------------------------------------------------------------------
class CostMeter:
    """Training-phase cost accounting, producing the ``cost.json`` dict.

    ``flops`` is either an encoder config (HF config or dict; FLOPs then come from
    :func:`analytic_forward_flops` with ``head_params``/``head_per_token``) or a callable
    ``forward_flops(seq_lens: list[int]) -> float`` giving the forward FLOPs of a batch of
    sequences with those (padded) lengths. Training FLOPs = 3 × forward.

    Usage::

        meter = CostMeter("target", device, model.config, head_params=d*d + d*n_labels)
        for batch in loader:
            ...; optimizer.step()
            meter.step_inputs(batch)          # or meter.step(tokens=..., examples=..., seq_lens=...)
        cost = meter.result(best_step=best, stopped_early=stopped)

    The clock and the peak-memory window start at construction (or at :meth:`start`). Wall time
    includes everything between start and :meth:`result` (data loading, evaluation, ...); on CUDA
    the device is synchronised before the clock is read. Peak memory: CUDA
    ``max_memory_allocated`` since start; CPU peak RSS of the process since start (see module
    docstring); another peak-memory measurement in the same process during the phase (e.g.
    :func:`measure_peak_memory`) resets the CPU high-water mark and shortens that window.
    """

    def __init__(
        self,
        phase: str,
        device: torch.device | str = "cpu",
        flops: Any = None,
        *,
        head_params: int = 0,
        head_per_token: bool = False,
        n_devices: int = 1,
    ):
        if flops is None:
            raise ValueError("CostMeter needs an encoder config or a forward_flops(seq_lens) callable")
        self.phase = phase
        self.device = _device(device)
        if callable(flops) and not all(hasattr(flops, k) for k in _CFG_KEYS):
            self._forward = flops
        else:
            cfg = flops

            def _forward(lens: list[int]) -> float:
                return analytic_forward_flops(cfg, lens, 1, head_params, head_per_token)

            self._forward = _forward
        self.n_devices = int(n_devices)
        self.start()

    def start(self) -> None:
        """(Re)start the clock and the memory window and zero the counters."""
        self.steps = 0
        self.examples = 0
        self.tokens = 0
        self.flops = 0.0
        self._mem = _PeakMemory(self.device)
        self._mem.start()
        _sync(self.device)
        self._t0 = time.perf_counter()

    def step(
        self,
        *,
        tokens: int | None = None,
        examples: int = 0,
        seq_lens: int | Iterable[int] | torch.Tensor | None = None,
        sequences: int | None = None,
        optimizer_step: bool = True,
        forward: Any = None,
    ) -> float:
        """Record one batch. Returns the training FLOPs added.

        ``seq_lens``: the padded length of every sequence the model processed, as a list / 1-D
        tensor (one entry per sequence), or one int for ``sequences`` sequences of that length
        (``sequences`` defaults to ``examples``). A multiple-choice example is ``choices``
        sequences. ``tokens`` defaults to ``sum(seq_lens)`` (token positions processed, padding
        included, which is what the FLOPs are computed on). Call with ``optimizer_step=False`` for
        the gradient-accumulation micro-batches that do not end in an optimizer step.
        ``forward``: this batch's ``forward_flops(seq_lens)`` when it is not the meter's own (a
        batch of another head in the same phase: the MLM batches of a ``+mlm`` intermediate).
        """
        if seq_lens is None:
            raise ValueError("seq_lens is required to compute FLOPs (attention depends on T)")
        if isinstance(seq_lens, (int, np.integer)):
            n = examples if sequences is None else sequences
            lens = [int(seq_lens)] * int(n)
        else:
            lens = _lengths(seq_lens)
        fl = 3.0 * float((forward or self._forward)(lens))
        self.flops += fl
        self.tokens += int(sum(lens) if tokens is None else tokens)
        self.examples += int(examples)
        if optimizer_step:
            self.steps += 1
        return fl

    def step_inputs(self, inputs: Mapping[str, Any], *, optimizer_step: bool = True) -> float:
        """:meth:`step` from a model batch: ``input_ids``/``attention_mask`` of shape (B, T) or
        (B, choices, T): examples = B, sequences = numel / T, all of padded length T."""
        ids = inputs.get("input_ids", inputs.get("attention_mask"))
        if not isinstance(ids, torch.Tensor):
            raise ValueError("inputs need an input_ids or attention_mask tensor")
        t = int(ids.shape[-1])
        n_seq = ids.numel() // t if t else 0
        return self.step(examples=int(ids.shape[0]), seq_lens=[t] * n_seq, optimizer_step=optimizer_step)

    def elapsed_s(self) -> float:
        _sync(self.device)
        return time.perf_counter() - self._t0

    def result(self, best_step: int | None = None, stopped_early: bool = False) -> dict[str, Any]:
        """The ``cost.json`` dict (may be called more than once; the clock keeps running)."""
        wall = self.elapsed_s()
        mem = self._mem.stop()
        dev = self.device
        return CostRecord(
            phase=self.phase,
            steps=int(self.steps),
            examples=int(self.examples),
            tokens=int(self.tokens),
            flops=float(self.flops),
            wall_s=float(wall),
            device=dev.type if dev.index is None else f"{dev.type}:{dev.index}",
            device_hours=float(wall * self.n_devices / 3600.0),
            peak_mem_mb=float(mem["peak_mb"]),
            tokens_per_s=float(self.tokens / wall) if wall > 0 else 0.0,
            best_step=best_step,
            stopped_early=bool(stopped_early),
        ).to_json()

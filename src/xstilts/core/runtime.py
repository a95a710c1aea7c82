"""``Runtime``: device, dtype and threads of a job; the only place torch is configured.

``Config.runtime`` builds it from the config (schema defaults: ``device: auto``,
``dtype: float32``, ``threads: 1``, ``compile: false``); a stage calls ``runtime.start()`` once and gets the
``torch.device`` it runs on, and wraps forwards in ``runtime.autocast()`` (or the module-level
:func:`autocast` when it only has a device and a dtype name).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

DTYPE_NAMES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
               "float16": "float16", "fp16": "float16"}


def resolve_device(pref: str = "auto"):
    """``auto``: CUDA when a GPU is visible, else the CPU."""
    import torch

    if pref == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if pref.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("config asks for device 'cuda' but no GPU is visible (CUDA_VISIBLE_DEVICES?)")
    return torch.device(pref)


def dtype_name(dtype) -> str:
    """``float32`` / ``bfloat16`` / ``float16`` of a name (``bf16`` ...) or a ``torch.dtype``."""
    import torch

    if isinstance(dtype, torch.dtype):
        return str(dtype).replace("torch.", "")
    if dtype not in DTYPE_NAMES:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {sorted(DTYPE_NAMES)}")
    return DTYPE_NAMES[dtype]


def effective_dtype(device, dtype) -> str:
    """The dtype a job computes in on ``device``: bfloat16 on a CUDA GPU without bf16 (before
    Ampere) falls back to float32 (fp16 would need loss scaling in training, and its range
    overflows in XLM-R's attention); the cost record and the inference profile record it."""
    import torch

    name = dtype_name(dtype)
    dev = torch.device(device)
    if name == "bfloat16" and dev.type == "cuda" and not torch.cuda.is_bf16_supported():
        return "float32"
    return name


def autocast(device, dtype):
    """bf16/fp16 autocast context for ``device`` (a no-op for float32, and for bf16 on a GPU
    without it: :func:`effective_dtype`)."""
    import torch

    name = effective_dtype(device, dtype)
    if name == "float32":
        return contextlib.nullcontext()
    dev = torch.device(device)
    if name == "float16" and dev.type != "cuda":
        raise ValueError("float16 autocast is only supported on CUDA here; use bfloat16 on CPU")
    return torch.autocast(device_type=dev.type, dtype=getattr(torch, name))


@dataclass(frozen=True)
class Runtime:
    device: str = "auto"  # auto | cpu | cuda
    dtype: str = "float32"  # float32 | bfloat16
    threads: int = 1  # CPU threads of torch
    compile: bool = False  # torch.compile the encoder for training

    def start(self):
        """Resolve the device and set torch's CPU threads; returns the ``torch.device``."""
        import torch

        device = resolve_device(self.device)
        if device.type == "cpu":
            torch.set_num_threads(int(self.threads))
        return device

    def autocast(self, device):
        return autocast(device, self.dtype)

    def dtype_on(self, device) -> str:
        """The dtype actually used on ``device`` (:func:`effective_dtype`)."""
        return effective_dtype(device, self.dtype)

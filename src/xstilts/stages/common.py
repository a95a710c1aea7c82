"""Helpers several stages share: logging, atomic JSON writes, batched prediction."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path


def log(msg: str) -> None:
    print(f"[xstilts {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename (a reader never sees a
    half-written file), creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def write_json(obj, path) -> Path:
    """``obj`` as indented JSON, atomically."""
    return atomic_write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())


def write_text(path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def _to(batch: dict, device) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def predict(model, task, family, feats, batch_size, device, dtype="float32", pad_id=1) -> list:
    """The family's raw prediction of every feature, in batches of ``batch_size``."""
    import torch

    from xstilts.core.runtime import autocast

    model.eval()
    preds = []
    with torch.no_grad():
        for i in range(0, len(feats), batch_size):
            batch = _to(family.collate(feats[i:i + batch_size], pad_id), device)
            with autocast(device, dtype):
                logits = model(task.name, family, batch["input_ids"], batch["attention_mask"])
            preds.extend(family.predict(logits.float()))
    return preds

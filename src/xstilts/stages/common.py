"""Helpers several stages share: logging, atomic JSON writes, batched prediction."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path


def file_digest(path) -> str:
    """The sha256 of a file's bytes (read in blocks)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def json_digest(obj) -> str:
    """The sha256 of ``obj`` as canonical JSON (sorted keys; other types by ``str``)."""
    import hashlib

    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


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


# the padded tokens (examples x sequences x longest) of one prediction batch, by device type: on
# a GPU large enough to keep it busy and small enough for a 24-layer encoder's activations; on a
# CPU thread a few thousand (larger batches leave the caches; measured with bench_eval.py)
EVAL_TOKENS = {"cpu": 4096, "cuda": 32768}
# bytes of predictions kept on the device before they are copied to the host in one go
_PENDING_BYTES = 256 << 20


def length_batches(feats, max_tokens: int = EVAL_TOKENS["cpu"], max_batch: int | None = None) -> list[list[int]]:
    """Indices of ``feats`` in batches of similar length: sorted by padded size (sequences x
    longest sequence), each batch holding as many features as fit ``max_tokens`` padded tokens
    (at least one; at most ``max_batch`` features when given)."""
    size = [len(f["seqs"]) * max(len(s) for s in f["seqs"]) for f in feats]
    batches, cur, longest = [], [], 0
    for i in sorted(range(len(feats)), key=size.__getitem__):
        grown = max(longest, size[i])
        if cur and ((len(cur) + 1) * grown > max_tokens or (max_batch and len(cur) >= max_batch)):
            batches.append(cur)
            cur, grown = [], size[i]
        cur.append(i)
        longest = grown
    if cur:
        batches.append(cur)
    return batches


def predict(model, task, family, feats, batch_size=None, device="cpu", dtype="float32", pad_id=1,
            max_tokens: int | None = None) -> list:
    """The family's raw prediction of every feature, in the order of ``feats``.

    Features are batched by length (:func:`length_batches`: little padding, ``max_tokens``
    padded tokens per batch, default :data:`EVAL_TOKENS` of the device type; at most
    ``batch_size`` features when given), run under
    ``torch.inference_mode``, and the logits stay on the device until a few hundred MB have
    piled up: no host synchronisation per batch."""
    import torch

    from xstilts.core.runtime import autocast

    model.eval()
    max_tokens = max_tokens or EVAL_TOKENS.get(torch.device(device).type, EVAL_TOKENS["cuda"])
    out: list = [None] * len(feats)
    pending, held = [], 0

    def flush():
        for idx, logits in pending:
            for j, p in zip(idx, family.predict(logits)):
                out[j] = p
        pending.clear()

    with torch.inference_mode():
        for idx in length_batches(feats, max_tokens, batch_size):
            batch = _to(family.collate([feats[i] for i in idx], pad_id), device)
            with autocast(device, dtype):
                logits = model(task.name, family, batch["input_ids"], batch["attention_mask"])
            logits = logits.float()
            pending.append((idx, logits))
            held += logits.numel() * 4
            if held > _PENDING_BYTES:
                flush()
                held = 0
        flush()
    return out

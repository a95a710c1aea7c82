"""One training loop for the intermediate and the target phase.

Single-task and multi-task training are the same loop: each optimizer step draws a task
(uniform, proportional to size, or temperature-scaled sampling), takes that task's next batch
and updates the shared encoder and that task's head.  Early stopping watches the English dev
subset only (zero-shot evaluation stays pure); the best state is restored at the end.
"""

from __future__ import annotations

import copy
import math
import random
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from xstilts.profiling import CostMeter


@dataclass
class TaskData:
    task: object  # registry Task
    family: object
    train: list[dict]
    dev: list[dict] = field(default_factory=list)


def resolve_device(pref: str = "auto") -> torch.device:
    if pref == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if pref.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("config asks for device 'cuda' but no GPU is visible (CUDA_VISIBLE_DEVICES?)")
    return torch.device(pref)


def autocast(device: torch.device, dtype: str):
    if dtype == "bfloat16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return torch.autocast(device_type=device.type, enabled=False)


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


def _batches(feats: list[dict], batch_size: int, rng: random.Random):
    """Endless shuffled batches (a new permutation every epoch)."""
    while True:
        order = list(range(len(feats)))
        rng.shuffle(order)
        for i in range(0, len(order), batch_size):
            yield [feats[j] for j in order[i:i + batch_size]]


def _to(batch: dict, device) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


@torch.no_grad()
def predict(model, td_task, family, feats, batch_size, device, dtype="float32", pad_id=1) -> list[int]:
    model.eval()
    preds = []
    for i in range(0, len(feats), batch_size):
        batch = _to(family.collate(feats[i:i + batch_size], pad_id), device)
        with autocast(device, dtype):
            logits = model(td_task.name, family, batch["input_ids"], batch["attention_mask"])
        preds.extend(family.predict(logits.float()))
    return preds


def accuracy(preds, feats) -> float:
    return float(np.mean([p == f["label"] for p, f in zip(preds, feats)])) if feats else float("nan")


def train_phase(model, tasks: list[TaskData], hp: dict, *, phase: str, seed: int, device,
                dtype: str = "float32", pad_id: int = 1, sampling: str = "proportional",
                temperature: float = 2.0, log=print) -> dict:
    """Train ``model`` in place on ``tasks``; returns the phase's cost record.

    ``hp``: lr, batch_size, epochs, warmup (fraction of steps), weight_decay, max_steps
    (optional cap), eval_every (steps), patience (evaluations), grad_clip.
    """
    from transformers import get_linear_schedule_with_warmup

    set_seed(seed)
    rng = random.Random(seed)
    model.to(device)
    bs = int(hp["batch_size"])
    steps_per_epoch = sum(math.ceil(len(t.train) / bs) for t in tasks)
    total = int(hp["epochs"] * steps_per_epoch)
    if hp.get("max_steps"):
        total = min(total, int(hp["max_steps"]))
    total = max(total, 1)
    weights = sampling_weights([len(t.train) for t in tasks], sampling, temperature)
    iters = [_batches(t.train, bs, random.Random(rng.random())) for t in tasks]

    opt = torch.optim.AdamW(model.parameters(), lr=float(hp["lr"]),
                            weight_decay=float(hp.get("weight_decay", 0.01)))
    sched = get_linear_schedule_with_warmup(opt, int(float(hp.get("warmup", 0.1)) * total), total)
    eval_every = int(hp.get("eval_every") or max(total // 10, 1))
    patience = int(hp.get("patience", 5))
    meter = CostMeter(phase, device, model.encoder.config)

    best, best_step, best_state, bad, stopped_early = -1.0, 0, None, 0, False
    history = []
    bar = tqdm(range(1, total + 1), desc=f"{phase} {'+'.join(t.task.name for t in tasks)}",
               mininterval=5, disable=None)
    for step in bar:
        model.train()
        k = rng.choices(range(len(tasks)), weights)[0] if len(tasks) > 1 else 0
        td = tasks[k]
        feats = next(iters[k])
        batch = _to(td.family.collate(feats, pad_id), device)
        with autocast(device, dtype):
            logits = model(td.task.name, td.family, batch["input_ids"], batch["attention_mask"])
            loss = td.family.loss(logits.float(), batch["labels"])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), float(hp.get("grad_clip", 1.0)))
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        mask = batch["attention_mask"]
        meter.step(tokens=int(mask.sum()), examples=len(feats),
                   seq_lens=[mask.shape[-1]] * (mask.shape[0] * mask.shape[1]))
        if step % eval_every == 0 or step == total:
            scores = [accuracy(predict(model, t.task, t.family, t.dev, bs * 2, device, dtype, pad_id), t.dev)
                      for t in tasks if t.dev]
            score = float(np.mean(scores)) if scores else -float(loss)
            history.append({"step": step, "loss": float(loss), "dev": score})
            bar.set_postfix(loss=f"{float(loss):.3f}", dev=f"{score:.3f}")
            log(f"step {step}/{total} loss {float(loss):.4f} dev {score:.4f}")
            if score > best:
                best, best_step, bad = score, step, 0
                best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
            else:
                bad += 1
                if bad >= patience:
                    stopped_early = True
                    log(f"early stop at step {step}: no dev gain for {patience} evaluations")
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
    cost = meter.result(best_step=best_step, stopped_early=stopped_early)
    cost.update({"planned_steps": total, "best_dev": best, "history": history,
                 "tasks": [t.task.name for t in tasks], "sampling": sampling if len(tasks) > 1 else None,
                 "hparams": {k: hp[k] for k in sorted(hp)}, "seed": seed, "dtype": dtype,
                 "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return cost

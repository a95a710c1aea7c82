"""The profile stage: what a (model, target) costs to serve, and each cell's cost record.

The inference profile is measured once per (model, target): every intermediate task gives
the same architecture.  The model is the base encoder with the target's head, fed batches of
the target's real test sequences padded to one length (the target's max length, or shorter
when every test sequence is shorter).
"""

from __future__ import annotations

import json
from pathlib import Path

from xstilts.core import paths
from xstilts.core.registry import ENGLISH, get_family, get_task

# torch is imported inside the functions that need it: the per-cell cost record is a cheap
# JSON job and should not pay for importing torch.


def served(model, task, family):
    """The task model as a server calls it: ``model(input_ids=..., attention_mask=...)``."""
    from torch import nn

    class Served(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(task.name, family, input_ids, attention_mask)

    return Served()


def batch_maker(feats: list[dict], seq_len: int, pad_id: int):
    """``make_inputs(batch_size)``: the first test examples, cycled, padded/truncated to seq_len."""
    import torch

    n_seq = len(feats[0]["seqs"])

    def make_inputs(batch_size: int) -> dict:
        ids = torch.full((batch_size, n_seq, seq_len), pad_id, dtype=torch.long)
        for i in range(batch_size):
            for j, s in enumerate(feats[i % len(feats)]["seqs"]):
                s = s[:seq_len]
                ids[i, j, : len(s)] = torch.tensor(s)
        return {"input_ids": ids, "attention_mask": (ids != pad_id).long()}

    return make_inputs


def profile_target(cfg, model_name: str, target: str, out_dir: str) -> dict:
    import torch

    from xstilts.stages.data import read_features
    from xstilts.stages.models import XstiltsModel, load_encoder, load_tokenizer
    from xstilts.stages.profiling import profile_inference
    from xstilts.stages.train import resolve_device

    task = get_task(target)
    family = get_family(task.family)
    device = resolve_device(cfg.raw.get("device", "auto"))
    if device.type == "cpu":
        torch.set_num_threads(int(cfg.raw.get("threads", 1)))
    model = XstiltsModel(load_encoder(paths.base_dir(model_name)))
    model.add_head(task, family)
    tok = load_tokenizer(paths.tokenizer_dir(cfg.tokenizer_of(model_name)))
    data = paths.data_dir(cfg.tokenizer_of(model_name), target)
    langs = task.eval_languages(cfg.toy_languages)
    feats = read_features(f"{data}/test-{ENGLISH if ENGLISH in langs else langs[0]}.parquet")
    longest = max(len(s) for f in feats for s in f["seqs"])
    seq_len = min(int(cfg.max_length(target)), longest)
    spec = cfg.raw.get("profile", {})
    prof = profile_inference(
        served(model, task, family), batch_maker(feats, seq_len, tok.pad_token_id), out_dir,
        device=device, dtype=cfg.raw.get("dtype", "float32"), seq_len=seq_len,
        batch_sizes=tuple(spec.get("batch_sizes", (1, 8, 32))),
        repeats=int(spec.get("latency_repeats", 30)), n_trace_steps=int(spec.get("trace_steps", 3)),
        head_per_token=family.head_per_token, run_name=f"{model_name}-{target}",
        write_json_file=False)
    prof.update({"model": model_name, "target": target, "benchmark": cfg.benchmark,
                 "family": task.family, "sequences_per_example": len(feats[0]["seqs"])})
    search = family.search_cost(task, feats, model.hidden_size,  # retrieval: after embedding
                                repeats=int(spec.get("latency_repeats", 30)))
    if search is not None:
        prof["search"] = search
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    Path(paths.inference_profile(model_name, target)).write_text(json.dumps(prof, indent=2))
    return prof


def _read(path: str) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError as err:
        raise FileNotFoundError(f"cost record {path} is missing") from err


def cell_profile(model: str, inter: str, target: str, seed) -> dict:
    """Training cost of both phases of a cell + the link to its inference profile (a zero-shot
    target such as BUCC has no target phase)."""
    tgt = None
    if not get_task(target).zero_shot:
        tgt = _read(paths.checkpoint_done(paths.cell_model_dir(model, inter, target, seed)))
    inter_cost = None
    if inter not in (paths.NONE, paths.SCRATCH):
        inter_cost = _read(paths.checkpoint_done(paths.inter_dir(model, inter, seed)))
    phases = {"intermediate": inter_cost, "target": tgt}
    keep = ("phase", "steps", "examples", "tokens", "flops", "wall_s", "device", "device_hours",
            "peak_mem_mb", "tokens_per_s", "best_step", "stopped_early")
    slim = {k: ({f: v.get(f) for f in keep} if v else None) for k, v in phases.items()}
    done = [v for v in phases.values() if v]
    return {
        "model": model, "inter": inter, "target": target, "seed": int(seed),
        "phases": slim,
        "total_train_flops": sum(v["flops"] for v in done),
        "total_train_wall_s": sum(v["wall_s"] for v in done),
        "total_device_hours": sum(v["device_hours"] for v in done),
        "inference_profile": paths.inference_profile(model, target),
    }

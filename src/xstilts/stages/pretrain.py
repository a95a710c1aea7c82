"""The base stage: a pretrained encoder in ``results/models/<model>/base/``.

Real mode snapshots the Hub encoder.  Toy mode pretrains a tiny XLM-R-architecture model with
masked language modelling on the multilingual toy corpus: the toy stand-in for "download XLM-R".

Pretraining that produces transfer takes minutes per model (thousands of MLM steps), more than
the embedded default can spend, so the package ships the pretrained toy encoders of the default
config, the toy equivalent of a Hub snapshot (``src/xstilts/toy/encoders/<key>/``).  The key
is a hash of everything that determines the weights (generator version, toy seed, languages and
corpus size, the tokenizer's vocabulary, the architecture, the MLM recipe, torch's major
version); ``toy_base`` uses a shipped encoder only when its key matches and its weights' hash
checks out, and otherwise pretrains, saying why.  ``xstilts toy-encoders`` refreshes the store.
"""

from __future__ import annotations

import json
import math
import random
import shutil
from pathlib import Path

import torch
from tqdm.auto import tqdm

from xstilts.core import paths
from xstilts.core.records import CostRecord
from xstilts.stages.common import file_digest, json_digest
from xstilts.stages.mlm_corpus import pack  # one owner of corpus packing (torch-free)
from xstilts.stages.models import encoder_dir, toy_config
from xstilts.stages.profiling import CostMeter
from xstilts.stages.train import set_seed


def read_corpus(files: list[str]) -> dict[str, list[str]]:
    """Lines of each corpus file (one file per language)."""
    out = {}
    for f in files:
        with open(f, encoding="utf-8") as fh:
            out[str(f)] = [line.strip() for line in fh if line.strip()]
        if not out[str(f)]:
            raise ValueError(f"corpus file {f} is empty")
    return out


MASK_PROB = 0.15


def mask_tokens(ids: torch.Tensor, tokenizer, prob: float, gen: torch.Generator):
    """BERT masking: of the chosen 15%, 80% <mask>, 10% random token, 10% unchanged."""
    labels = ids.clone()
    special = (ids == tokenizer.pad_token_id) | (ids == tokenizer.bos_token_id) | (ids == tokenizer.eos_token_id)
    chosen = (torch.rand(ids.shape, generator=gen) < prob) & ~special
    labels[~chosen] = -100
    inputs = ids.clone()
    roll = torch.rand(ids.shape, generator=gen)
    inputs[chosen & (roll < 0.8)] = tokenizer.mask_token_id
    rand = chosen & (roll >= 0.8) & (roll < 0.9)
    inputs[rand] = torch.randint(len(tokenizer), ids.shape, generator=gen)[rand]
    return inputs, labels


def masked_lm_loss(model, inputs, attn, labels) -> torch.Tensor:
    """Cross-entropy of the MLM head at the masked positions only: the same loss as
    ``XLMRobertaForMaskedLM(labels=...)``, without computing vocabulary logits for the 85% of
    positions that carry no label (on toy models the head dominates the step's cost)."""
    hidden = model.roberta(input_ids=inputs, attention_mask=attn).last_hidden_state
    chosen = labels != -100
    logits = model.lm_head(hidden[chosen])
    return torch.nn.functional.cross_entropy(logits, labels[chosen])


def pretrain_mlm(spec: dict, tokenizer, corpus_files: list[str], out_dir: str, *, steps: int,
                 batch_size: int, lr: float, max_length: int, warmup: float, seed: int, device,
                 log=print, record: dict | None = None) -> dict:
    """Train an XLM-R-architecture MLM from scratch and save its encoder as the base model."""
    from transformers import XLMRobertaForMaskedLM, get_linear_schedule_with_warmup

    set_seed(seed)
    corpus = read_corpus(corpus_files)
    enc = []
    for lines in corpus.values():
        ids = tokenizer(lines, add_special_tokens=False)["input_ids"]
        enc += pack(ids, max_length, tokenizer.bos_token_id, tokenizer.eos_token_id)
    model = XLMRobertaForMaskedLM(toy_config(spec, tokenizer)).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = get_linear_schedule_with_warmup(opt, int(warmup * steps), steps)
    # the MLM head (dense d x d + decoder d x vocab) runs on the masked positions only: in
    # expectation MASK_PROB of the tokens
    d = model.config.hidden_size
    meter = CostMeter("pretrain", device, model.config, head_per_token=True,
                      head_params=round(MASK_PROB * (d * d + d * len(tokenizer))))
    gen = torch.Generator().manual_seed(seed)
    order, pos, losses = list(range(len(enc))), len(enc), []
    bar = tqdm(range(1, steps + 1), desc="MLM pretraining", mininterval=5, disable=None)
    for step in bar:
        if pos + batch_size > len(order):
            random.Random(seed + step).shuffle(order)
            pos = 0
        rows = [enc[i] for i in order[pos:pos + batch_size]]
        pos += batch_size
        longest = max(map(len, rows))
        ids = torch.full((len(rows), longest), tokenizer.pad_token_id, dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r)
        attn = (ids != tokenizer.pad_token_id).long()
        inputs, labels = mask_tokens(ids, tokenizer, MASK_PROB, gen)
        model.train()
        loss = masked_lm_loss(model, inputs.to(device), attn.to(device), labels.to(device))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        meter.step(tokens=int(attn.sum()), examples=len(rows), seq_lens=[longest] * len(rows))
        losses.append(loss.item())
        if step % 50 == 0 or step == steps:
            recent = sum(losses[-50:]) / len(losses[-50:])
            bar.set_postfix(loss=f"{recent:.3f}")
            log(f"step {step}/{steps} mlm loss {recent:.4f}")
    model.roberta.save_pretrained(encoder_dir(out_dir), safe_serialization=True)
    tokenizer.save_pretrained(encoder_dir(out_dir))
    cost = meter.result(best_step=steps, stopped_early=False)
    tail = losses[-50:]
    cost.update({"mlm_loss_first": losses[0], "mlm_loss_last": sum(tail) / len(tail),
                 "mlm_loss_chance": math.log(len(tokenizer)),
                 "corpus_lines": sum(map(len, corpus.values())), "sequences": len(enc),
                 "architecture": spec, "seed": seed, **(record or {})})
    CostRecord.from_dict(cost).write(paths.checkpoint_done(out_dir))  # atomic, checked
    return cost


# ---------------------------------------------------------------------------- shipped encoders
WEIGHTS = "model.safetensors"


def tokenizer_fingerprint(tokenizer_file: str) -> str:
    """Hash of what a tokenizer does (normaliser, pre-tokeniser, vocabulary, merges), not of
    how its JSON file happens to be formatted."""
    spec = json.loads(Path(tokenizer_file).read_text(encoding="utf-8"))
    keep = {k: spec.get(k) for k in ("normalizer", "pre_tokenizer", "model", "added_tokens")}
    return json_digest(keep)


def encoder_key(*, toy: dict, languages: list[str], tokenizer_file: str, architecture: dict,
                recipe: dict) -> tuple[str, dict]:
    """``(key, fields)``: the content address of a toy encoder."""
    from xstilts.toy.generate import GENERATOR_VERSION

    fields = {
        "generator_version": GENERATOR_VERSION,
        "toy_seed": toy["seed"],
        "languages": list(languages),
        "n_corpus": toy["n_corpus"],
        "tokenizer": tokenizer_fingerprint(tokenizer_file),
        "architecture": dict(sorted(architecture.items())),
        "mlm": dict(sorted(recipe.items())),
        "torch_major": int(torch.__version__.split(".")[0]),
    }
    digest = json_digest(fields)
    return digest[:16], fields


def shipped_encoder(key: str, fields: dict, log=print) -> Path | None:
    """The shipped folder of ``key`` if it exists and checks out, else ``None`` (with the
    reason logged)."""
    folder = Path(paths.toy_encoder_shipped(key))
    if not folder.is_dir():
        log(f"no shipped toy encoder has key {key} ({paths.toy_encoder_store()})")
        return None
    try:
        record = json.loads((folder / "key.json").read_text())
    except (OSError, ValueError) as err:
        log(f"shipped toy encoder {folder}: unreadable key.json ({err})")
        return None
    if record.get("fields") != fields:
        log(f"shipped toy encoder {folder}: its recorded inputs differ from this config's")
        return None
    if record.get("sha256") != file_digest(folder / WEIGHTS):
        log(f"shipped toy encoder {folder}: weights do not match their recorded sha256")
        return None
    return folder


def toy_base(spec: dict, recipe: dict, toy: dict, languages: list[str], tokenizer_path: str,
             corpus_files: list[str], out_dir: str, device, *, use_shipped: bool = True,
             log=print) -> dict:
    """The toy base encoder in ``out_dir``: the shipped one whose key matches, else MLM
    pretraining from scratch."""
    from xstilts.stages.models import load_tokenizer

    tokenizer = load_tokenizer(tokenizer_path)
    key, fields = encoder_key(toy=toy, languages=languages,
                              tokenizer_file=str(Path(tokenizer_path) / "tokenizer.json"),
                              architecture=spec, recipe=recipe)
    folder = shipped_encoder(key, fields, log) if use_shipped else None
    if folder is not None:
        enc = Path(encoder_dir(out_dir))
        enc.mkdir(parents=True, exist_ok=True)
        for name in (WEIGHTS, "config.json"):
            shutil.copyfile(folder / name, enc / name)
        tokenizer.save_pretrained(str(enc))
        cost = {**json.loads((folder / "cost.json").read_text()), "source": "shipped", "key": key}
        CostRecord.from_dict(cost).write(paths.checkpoint_done(out_dir))  # atomic, checked
        log(f"using the shipped toy encoder {key} ({recipe['steps']} MLM steps, loss "
            f"{cost['mlm_loss_last']:.2f}, measured when it was made)")
        return cost
    log(f"pretraining from scratch ({recipe['steps']} MLM steps, batch {recipe['batch_size']})")
    return pretrain_mlm(spec, tokenizer, corpus_files, out_dir, steps=recipe["steps"],
                        batch_size=recipe["batch_size"], lr=recipe["lr"],
                        max_length=recipe["max_length"], warmup=recipe["warmup"], seed=toy["seed"],
                        device=device, log=log, record={"source": "pretrained", "key": key})


def ship(out_dir: str, key: str, fields: dict) -> Path:
    """Store a pretrained base (``out_dir``) in the shipped-encoder store under ``key``."""
    folder = Path(paths.toy_encoder_shipped(key))
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in (WEIGHTS, "config.json"):
        shutil.copyfile(Path(encoder_dir(out_dir)) / name, tmp / name)
    cost = json.loads((Path(out_dir) / "cost.json").read_text())
    cost = {k: v for k, v in cost.items() if k not in ("source", "key")}
    (tmp / "cost.json").write_text(json.dumps(cost, indent=2) + "\n")
    (tmp / "key.json").write_text(json.dumps({"key": key, "fields": fields,
                                              "sha256": file_digest(tmp / WEIGHTS)}, indent=2) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder

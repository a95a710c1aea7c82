"""The base stage: a pretrained encoder in ``results/models/<model>/base/``.

Real mode snapshots the Hub encoder.  Toy mode pretrains a tiny XLM-R-architecture model with
masked language modelling on the multilingual toy corpus: the toy stand-in for "download XLM-R".
"""

from __future__ import annotations

import math
import random

import torch
from tqdm.auto import tqdm

from xstilts.core import paths
from xstilts.core.records import CostRecord
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


def pack(ids_per_line: list[list[int]], max_length: int, bos: int, eos: int) -> list[list[int]]:
    """Concatenate consecutive lines (of one language) into sequences of at most max_length
    tokens, ``<s> line </s> line </s> ...``, so MLM sees every position a target will use."""
    seqs, cur = [], [bos]
    for ids in ids_per_line:
        ids = ids[: max_length - 2]
        if len(cur) + len(ids) + 1 > max_length:
            seqs.append(cur)
            cur = [bos]
        cur += ids + [eos]
    if len(cur) > 1:
        seqs.append(cur)
    return seqs


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


def pretrain_mlm(spec: dict, tokenizer, corpus_files: list[str], out_dir: str, *, steps: int,
                 batch_size: int, lr: float, max_length: int, warmup: float, seed: int, device,
                 log=print) -> dict:
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
    d = model.config.hidden_size  # the MLM head (dense d x d + decoder d x vocab) runs on every token
    meter = CostMeter("pretrain", device, model.config, head_params=d * d + d * len(tokenizer),
                      head_per_token=True)
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
        inputs, labels = mask_tokens(ids, tokenizer, 0.15, gen)
        model.train()
        out = model(input_ids=inputs.to(device), attention_mask=attn.to(device), labels=labels.to(device))
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        meter.step(tokens=int(attn.sum()), examples=len(rows), seq_lens=[longest] * len(rows))
        losses.append(out.loss.item())
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
                 "architecture": spec, "seed": seed})
    CostRecord.from_dict(cost).write(paths.checkpoint_done(out_dir))  # atomic, checked
    return cost

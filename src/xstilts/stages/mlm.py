"""Continued multilingual MLM as one more member of the training mixture (``<task>+mlm``).

:class:`MlmData` is a batch source of ``train_phase`` beside the tasks' :class:`TaskData`: its
batches are packed corpus sequences, masked BERT-style (``stages/pretrain.mask_tokens``) with a
generator seeded by ``(seed, step)`` (so a resumed run masks the same tokens), and its loss is
the cross-entropy of an MLM head at the masked positions only.  The head
(``XLMRobertaLMHead``, its decoder tied to the encoder's input embeddings) lives in
``model.heads[MLM_HEAD]`` during training, so that the optimizer, DDP and the resumable state
hold it like any head; :func:`drop_head` removes it before the intermediate checkpoint is saved.
"""

from __future__ import annotations

import math
import zlib

import torch
from torch import nn

from xstilts.stages.common import _to
from xstilts.tasks.families import pad

MLM_HEAD = "_mlm"  # not a task name (a task name starts with a letter or digit)


class _MaskedPositions:
    """The minimal family interface ``XstiltsModel.forward`` needs: the MLM head on the masked
    positions of the batch only (no vocabulary logits for the other 85% of the tokens)."""

    all_layers = False

    def __init__(self, chosen: torch.Tensor):
        self.chosen = chosen

    def logits(self, head, hidden, mask, batch_shape):
        return head(hidden[self.chosen])


class MlmData:
    """The tokenized MLM corpus (``stages/mlm_corpus``), masked per batch."""

    name = MLM_HEAD

    def __init__(self, train: list[dict], heldout: list[dict], tokenizer, probability: float,
                 batch_size: int, ratio: float, seed: int):
        if not train:
            raise ValueError("the MLM corpus has no training sequences")
        self.train, self.heldout = train, heldout
        self.probability, self.batch_size, self.ratio = float(probability), int(batch_size), float(ratio)
        self.seed = int(seed)
        self.tok = tokenizer
        self.head_source = None  # "pretrained" (the snapshot's) or "fresh", once made
        self.pad_id = tokenizer.pad_token_id

    @property
    def share(self) -> float:
        """The probability that a step is an MLM step (``ratio`` MLM steps per task step)."""
        return self.ratio / (1.0 + self.ratio)

    def make_head(self, encoder, pretrained: dict | None = None) -> nn.Module:
        """The MLM head, its decoder sharing the encoder's input embedding matrix (as XLM-R's
        own head does).  ``pretrained``: the head's weights from the model's Hub snapshot
        (:func:`pretrained_head`; real mode); else a fresh head (the toy base checkpoints and
        the shipped toy encoders keep the encoder only)."""
        from transformers.models.xlm_roberta.modeling_xlm_roberta import XLMRobertaLMHead

        head = XLMRobertaLMHead(encoder.config)
        if pretrained:
            tied = {"decoder.weight", "decoder.bias"}  # the embeddings and ``bias`` (saved once)
            weights = {k: v for k, v in pretrained.items() if k not in tied}
            missing, unexpected = head.load_state_dict(weights, strict=False)
            if unexpected or set(missing) - tied:
                raise ValueError(f"the snapshot's MLM head does not fit: missing {missing}, "
                                 f"unexpected {unexpected}")
        head.decoder.weight = encoder.get_input_embeddings().weight
        head.decoder.bias = head.bias  # as transformers ties them
        self.head_source = "pretrained" if pretrained else "fresh"
        return head

    def head_flop_params(self, config) -> int:
        """Linear weights of the head per token in expectation (it runs on the masked ones)."""
        d = config.hidden_size
        return round(self.probability * (d * d + d * config.vocab_size))

    def collate(self, feats: list[dict], key) -> dict:
        from xstilts.stages.pretrain import mask_tokens

        batch = pad(feats, self.pad_id)
        ids = batch["input_ids"][:, 0]
        gen = torch.Generator().manual_seed(zlib.crc32(f"{self.seed}:{key}".encode()))
        inputs, labels = mask_tokens(ids, self.tok, self.probability, gen)
        if not (labels != -100).any():  # a tiny batch with nothing chosen: mask its first token
            labels[0, 1], inputs[0, 1] = ids[0, 1], self.tok.mask_token_id
        return {"input_ids": inputs[:, None], "attention_mask": batch["attention_mask"],
                "labels": labels[:, None]}

    def loss(self, net, batch) -> torch.Tensor:
        chosen = batch["labels"][:, 0] != -100
        logits = net(MLM_HEAD, _MaskedPositions(chosen), batch["input_ids"], batch["attention_mask"])
        return nn.functional.cross_entropy(logits.float(), batch["labels"][:, 0][chosen])

    @torch.no_grad()
    def heldout_loss(self, model, device, dtype: str) -> float:
        """Mean MLM loss on the held-out sequences (a fixed masking: comparable across steps)."""
        from xstilts.core.runtime import autocast

        if not self.heldout:
            return math.nan
        was = model.training
        model.eval()
        total, n = 0.0, 0
        for i in range(0, len(self.heldout), self.batch_size):
            batch = _to(self.collate(self.heldout[i:i + self.batch_size], f"heldout:{i}"), device)
            k = int((batch["labels"] != -100).sum())
            with autocast(device, dtype):
                total += float(self.loss(model, batch)) * k
            n += k
        model.train(was)
        return total / max(n, 1)


def pretrained_head(cfg, model_name: str) -> dict | None:
    """``{name: tensor}`` of the MLM head (``lm_head.*`` without the prefix) in the real model's
    snapshot (a local model folder, or the Hub cache at the pinned revision), or None (toy mode,
    or a snapshot without one: a fresh head is trained)."""
    from safetensors import safe_open

    from xstilts.stages.prefetch import model_folder

    if cfg.is_toy:
        return None
    spec = cfg.model(model_name)
    out = {}
    for f in sorted(model_folder(spec["hf_id"], spec.get("revision")).glob("*.safetensors")):
        with safe_open(str(f), "pt") as fh:
            for k in fh.keys():
                if k.startswith("lm_head."):
                    out[k[len("lm_head."):]] = fh.get_tensor(k)
    return out or None


def drop_head(model) -> None:
    """Remove the MLM head (before the intermediate checkpoint is saved)."""
    if MLM_HEAD in model.heads:
        del model.heads[MLM_HEAD]


def load(cfg, model_name: str, bs: int, tokenizer, seed: int) -> MlmData:
    from xstilts.core import paths
    from xstilts.stages.data import read_features

    m = cfg.continued_mlm
    d = paths.mlm_corpus_dir(cfg.tokenizer_of(model_name))
    return MlmData(read_features(paths.data_file(d, paths.TRAIN)),
                   read_features(paths.data_file(d, paths.HELDOUT)), tokenizer,
                   m["probability"], m["batch_size"] or bs, m["ratio"], seed)

"""Tokenizers, base encoders and the task model.

Every checkpoint directory (base, intermediate, target) has the same layout::

    encoder/            Hugging Face encoder + tokenizer (``save_pretrained``, safetensors)
    heads.safetensors   task heads (absent for a bare encoder)
    heads.json          {task: family} for the heads
    head_labels.json    {task: [label names]} of the heads (rebuilds heads of open label sets)
    cost.json           what producing this checkpoint cost

The base encoder is either a Hub snapshot (real mode) or a tiny XLM-R-architecture model
pretrained with MLM on the toy corpus (toy mode, the stand-in for "download XLM-R").
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

# the tokenizers live in a torch-free module (the prepare jobs need them, not torch)
from xstilts.stages.tokenizers import SPECIAL_TOKENS, load_tokenizer, train_tokenizer  # noqa: F401


# ---------------------------------------------------------------------------- encoders
def toy_config(spec: dict, tokenizer, max_positions: int | None = None):
    """XLM-R architecture of a toy size: ``{"layers", "hidden", "heads", "intermediate"?}``."""
    from transformers import XLMRobertaConfig

    from xstilts.core.config import TOY_MAX_POSITIONS

    max_positions = max_positions or TOY_MAX_POSITIONS  # the limit config validation checks
    return XLMRobertaConfig(
        vocab_size=len(tokenizer), hidden_size=spec["hidden"], num_hidden_layers=spec["layers"],
        num_attention_heads=spec["heads"], intermediate_size=spec.get("intermediate", 4 * spec["hidden"]),
        max_position_embeddings=max_positions, type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id)


def encoder_dir(ckpt_dir: str) -> str:
    return os.path.join(ckpt_dir, "encoder")


def load_encoder(ckpt_dir: str, attn: str = "sdpa", random_init: bool = False, seed: int = 0):
    """The encoder of a checkpoint directory (safetensors only). ``random_init`` builds the
    same architecture with fresh weights: the random-init control."""
    from transformers import AutoConfig, AutoModel

    from xstilts.stages.guard import checkpoint_error

    path = encoder_dir(ckpt_dir)
    try:
        if random_init:
            torch.manual_seed(seed)
            config = AutoConfig.from_pretrained(path)
            config._attn_implementation = attn
            return AutoModel.from_config(config, add_pooling_layer=False)
        return AutoModel.from_pretrained(path, use_safetensors=True, add_pooling_layer=False,
                                         attn_implementation=attn)
    except Exception as err:  # noqa: BLE001 - truncated safetensors, partial config.json
        raise checkpoint_error(ckpt_dir, err) from err


class ModelMissingError(RuntimeError):
    """A Hub model or tokenizer that is neither a local folder nor in the cache."""


def from_hub(cls, hf_id: str, revision: str | None, **kwargs):
    """``cls.from_pretrained`` of a Hub id at a revision, or of a local model folder (``hf_id``
    an existing directory: read in place, the revision does not apply).  A snapshot missing
    from the cache is one :class:`ModelMissingError` naming the repo, the revision, the cache
    folder and the prefetch command, not the library's traceback."""
    from xstilts.stages.prefetch import is_local_model

    if is_local_model(hf_id):
        return cls.from_pretrained(hf_id, **kwargs)
    try:
        return cls.from_pretrained(hf_id, revision=revision, **kwargs)
    except OSError as err:  # transformers: missing files / offline cache miss
        import os

        from huggingface_hub import constants

        offline = any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on")
                      for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
        first = (str(err).strip().splitlines() or [""])[0]
        raise ModelMissingError(
            f"model {hf_id} at revision {revision or 'main'} is not in the Hugging Face cache "
            f"{constants.HF_HUB_CACHE} (HF_HOME={os.environ.get('HF_HOME', '<unset>')}"
            f"{', offline' if offline else ''}): run `xstilts prefetch --config <config>` on a "
            f"host with network access (it snapshots {hf_id}@{revision or 'main'} there), or "
            f"set hf_id to a local model folder. ({type(err).__name__}: {first[:200]})") from None


def snapshot_base(hf_id: str, revision: str | None, out_dir: str) -> None:
    """Real mode: the Hub encoder and its tokenizer, saved as a base checkpoint."""
    from transformers import AutoModel, AutoTokenizer

    model = from_hub(AutoModel, hf_id, revision, use_safetensors=True, add_pooling_layer=False)
    tokenizer = from_hub(AutoTokenizer, hf_id, revision)
    model.save_pretrained(encoder_dir(out_dir), safe_serialization=True)
    tokenizer.save_pretrained(encoder_dir(out_dir))


# ---------------------------------------------------------------------------- task model
class XstiltsModel(nn.Module):
    """A shared encoder with one head per task (several during multi-task training)."""

    def __init__(self, encoder: nn.Module, heads: dict[str, nn.Module] | None = None,
                 families: dict[str, str] | None = None):
        super().__init__()
        self.encoder = encoder
        self.heads = nn.ModuleDict(heads or {})
        self.families = dict(families or {})
        self.labels: dict[str, list[str]] = {}  # task -> label names of its head

    @property
    def hidden_size(self) -> int:
        return self.encoder.config.hidden_size

    def add_head(self, task, family, dropout: float = 0.1) -> None:
        self.heads[task.name] = family.make_head(self.hidden_size, task, dropout)
        self.families[task.name] = family.name
        self.labels[task.name] = list(task.labels)

    def forward(self, task_name: str, family, input_ids, attention_mask):
        """``input_ids``: (batch, n_seq, length); returns the family's logits."""
        b, s, t = input_ids.shape
        mask = attention_mask.view(b * s, t)
        every = family.all_layers
        out = self.encoder(input_ids=input_ids.view(b * s, t), attention_mask=mask,
                           output_hidden_states=every)
        # (b*s, layers+1, t, hidden) for families that read every layer (retrieval), else the last
        hidden = torch.stack(out.hidden_states, 1) if every else out.last_hidden_state
        head = self.heads[task_name] if task_name in self.heads else None  # zero-shot: no head
        return family.logits(head, hidden, mask, (b, s))

    # --- persistence (safetensors only) ---
    def save(self, ckpt_dir: str, tokenizer=None, save_heads: bool = True) -> None:
        path = Path(ckpt_dir)
        path.mkdir(parents=True, exist_ok=True)
        self.encoder.save_pretrained(encoder_dir(ckpt_dir), safe_serialization=True)
        if tokenizer is not None:
            tokenizer.save_pretrained(encoder_dir(ckpt_dir))
        if save_heads and len(self.heads):
            state = {k: v.detach().cpu().contiguous() for k, v in self.heads.state_dict().items()}
            save_file(state, str(path / "heads.safetensors"))
            (path / "heads.json").write_text(json.dumps(self.families, indent=2))
            (path / "head_labels.json").write_text(json.dumps(self.labels, indent=1))


def load_task_model(ckpt_dir: str, tasks: list, attn: str = "sdpa") -> XstiltsModel:
    """Encoder + heads of a target checkpoint, for the given registry tasks."""
    from xstilts.core.registry import get_family

    model = XstiltsModel(load_encoder(ckpt_dir, attn=attn))
    labels_file = Path(ckpt_dir) / "head_labels.json"
    saved = json.loads(labels_file.read_text()) if labels_file.exists() else {}
    for task in tasks:
        own = tuple(saved.get(task.name) or ())
        if own and not task.labels:  # open label set: the head's labels come from the checkpoint
            task = replace(task, labels=own)
        elif own and own != tuple(task.labels):
            raise ValueError(f"{labels_file}: head {task.name!r} was trained with labels "
                             f"{list(own)}, the registry now has {list(task.labels)}")
        model.add_head(task, get_family(task.family))
    heads_file = Path(ckpt_dir) / "heads.safetensors"
    if not heads_file.exists():
        raise FileNotFoundError(f"{ckpt_dir} has no heads.safetensors: not a target checkpoint")
    try:
        weights = load_file(str(heads_file))
    except Exception as err:  # noqa: BLE001 - truncated safetensors
        from xstilts.stages.guard import checkpoint_error

        raise checkpoint_error(ckpt_dir, err, str(heads_file)) from err
    missing, unexpected = model.heads.load_state_dict(weights, strict=False)
    if missing:
        raise KeyError(f"{heads_file}: no weights for {missing}")
    return model

"""The ``base`` stage: the pretrained encoder, a Hub snapshot (real) or toy MLM pretraining."""

from __future__ import annotations

from xstilts.core import paths, records
from xstilts.stages.common import log


def run(cfg, model: str, out: str | None = None) -> None:
    spec = cfg.model(model)
    out = out or paths.base_dir(model)
    device = cfg.runtime.start()
    if cfg.is_toy:
        from xstilts.stages.pretrain import toy_base

        cost = toy_base(spec["toy"], cfg.mlm(model), cfg.toy_world, ["en", *cfg.toy_languages],
                        paths.tokenizer_dir(cfg.tokenizer_of(model)), toy_corpus(cfg), out, device,
                        log=log)
        log(f"{model}: MLM loss {cost['mlm_loss_first']:.2f} -> {cost['mlm_loss_last']:.2f} "
            f"({cost['source']}, {cost['wall_s']:.0f}s of pretraining)")
    else:
        from xstilts.stages.models import snapshot_base

        snapshot_base(spec["hf_id"], spec.get("revision"), out)
        records.CostRecord.from_dict({"phase": "download", "hf_id": spec["hf_id"], "revision": spec.get("revision"),
                                      "steps": 0, "flops": 0.0, "wall_s": 0.0, "device_hours": 0.0}
                                     ).write(paths.checkpoint_done(out))
        log(f"{model}: saved {spec['hf_id']} -> {out}")


def toy_corpus(cfg) -> list[str]:
    return [paths.toy_corpus(lang) for lang in ["en", *cfg.toy_languages]]

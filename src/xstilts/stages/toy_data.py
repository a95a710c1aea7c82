"""The ``toy-data`` stage: generate the toy benchmark (twins in Hub schema + corpus)."""

from __future__ import annotations

from xstilts.core import paths
from xstilts.stages.common import log


def run(cfg, out: str | None = None) -> None:
    from xstilts import toy

    out = out or paths.toy_root()
    manifest = toy.generate(out, languages=["en", *cfg.toy_languages], **cfg.toy_world)
    log(f"toy benchmark written to {out} ({len(manifest.get('files', []))} files)")

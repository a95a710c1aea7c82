"""Real mode without the Hub: a dataset mirror in the Hub's own layout and a tiny stand-in for
``FacebookAI/xlm-roberta-base`` in a temporary ``HF_HOME``.

* :func:`hub_mirror` rewrites the toy benchmark (``<root>/<repo>/<config>/<split>.parquet``)
  into the layout ``hf download <repo> --repo-type dataset --local-dir <root>/<repo>`` writes:
  ``<config>/<split>-00000-of-00001.parquet`` shards, a repository without configs under
  ``data/`` or under its Hub config name (``plain_text/`` for ``rajpurkar/squad``), and the toy
  languages renamed to real benchmark languages (``qaa`` -> ``de``: configs such as
  ``PAN-X.de``, ``tatoeba.deu``, and the ``language`` column of XNLI's one test config, whose
  rows for the new language go into a second shard).
* :func:`stand_in_xlmr` trains a BPE tokenizer with XLM-R's special tokens on the toy corpus,
  draws random XLM-R weights (safetensors) and stores both as a snapshot of the Hub repository
  at a pinned commit in the hub cache of ``hf_home``.
* :func:`empty_hub` serves a Hub endpoint on a local port that has no repository at all: every
  request gets the Hub's 404, as a removed or misspelled repository does.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import shutil
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from xstilts.core.registry import get_task
from xstilts.stages.data import read_local, read_rows

# a repository without configs: the folder its Hub download uses (else data/)
HUB_CONFIG_NAME = {"rajpurkar/squad": "plain_text", "rajpurkar/squad_v2": "squad_v2"}
REPO = "FacebookAI/xlm-roberta-base"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _write_shard(rows: list[dict], folder: Path, split: str, index: int = 0, total: int = 1) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{split}-{index:05d}-of-{total:05d}.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def hub_mirror(toy_hub: Path, out: Path, languages: dict[str, dict[str, str]],
               drop: tuple[str, ...] = ()) -> Path:
    """The toy mirror at ``toy_hub`` in the Hub's layout under ``out``; ``languages``: target ->
    {toy language: real language}; configs of the toy languages (and ``drop``) are left out."""
    toy_langs = {toy for m in languages.values() for toy in m} | set(drop)
    for f in sorted(toy_hub.rglob("*")):
        if not f.is_file() or f.suffix not in (".parquet", ".jsonl", ".tsv"):
            continue
        rel = f.relative_to(toy_hub)
        repo, config, split = "/".join(rel.parts[:2]), rel.parts[2], f.stem
        if any(config == t or config.endswith("." + t) or f".{t}." in config for t in toy_langs):
            continue  # a toy-language config: written under its real name below
        if config == "default":
            folder = out / repo / HUB_CONFIG_NAME.get(repo, "data")
        else:
            folder = out / repo / config
        if f.suffix == ".tsv":  # CCGbank-style local data keeps its format
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(f, folder / f.name)
            continue
        _write_shard(read_local(f), folder, split)
    for target, mapping in languages.items():
        task = get_task(target)
        for toy, lang in mapping.items():
            rows = read_rows(task.test_source(toy), str(toy_hub))
            src = task.test_source(lang)
            for col, value in src.where:  # rows filtered by a column (XNLI's language)
                rows = [{**r, col: value} for r in rows]
            folder = out / src.repo / src.config
            if src.where:  # the config holds every language: the new rows are a second shard
                (old,) = folder.glob(f"{src.split}-00000-of-00001.parquet")
                old.rename(folder / f"{src.split}-00000-of-00002.parquet")
                _write_shard(rows, folder, src.split, 1, 2)
            else:
                _write_shard(rows, folder, src.split)
    return out


def write_config_snapshot(root: Path, raw: dict) -> Path:
    """``raw`` as the config snapshot a Snakefile in ``root`` hands its jobs (trusted by ``load``,
    not validated again)."""
    from xstilts.core import paths
    from xstilts.core.config import snapshot_text

    text = snapshot_text(raw)
    snap = root / paths.config_snapshot(text)
    snap.parent.mkdir(parents=True, exist_ok=True)
    snap.write_text(text)
    return snap


def stand_in_xlmr(hf_home: Path, corpus: list[Path], hidden: int = 32, layers: int = 1,
                  max_length: int = 128) -> Path:
    """A random tiny XLM-R and a BPE tokenizer as the cached snapshot ``REPO@COMMIT``."""
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel

    from xstilts.stages.models import train_tokenizer

    repo_dir = hf_home / "hub" / ("models--" + REPO.replace("/", "--"))
    snap = repo_dir / "snapshots" / COMMIT
    tok = train_tokenizer([str(c) for c in corpus], 800, str(snap))
    torch.manual_seed(0)
    config = XLMRobertaConfig(vocab_size=len(tok), hidden_size=hidden, num_hidden_layers=layers,
                              num_attention_heads=2, intermediate_size=2 * hidden,
                              max_position_embeddings=max_length + 2, pad_token_id=tok.pad_token_id,
                              bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    XLMRobertaModel(config, add_pooling_layer=False).save_pretrained(snap, safe_serialization=True)
    (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs" / "main").write_text(COMMIT)
    json.loads((snap / "config.json").read_text())  # written and readable
    return snap


class _NoRepository(http.server.BaseHTTPRequestHandler):
    def _not_found(self) -> None:
        body = b'{"error": "Repository not found"}'
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Error-Code", "RepoNotFound")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = _not_found

    def log_message(self, *args) -> None:  # quiet
        pass


@contextlib.contextmanager
def empty_hub():
    """The URL of a reachable Hub endpoint (for ``HF_ENDPOINT``) that holds no repository."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NoRepository)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()

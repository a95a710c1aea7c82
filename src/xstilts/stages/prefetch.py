"""Prefetch for offline compute nodes: every Hub model and dataset split a config needs, into the
Hugging Face cache, before any job is submitted.

``xstilts prefetch`` (Snakemake: the local rule ``prefetch``, run on the submit host) first
*plans* (:func:`plan`, no network: the list of model snapshots and ``(repo, config, split,
revision)`` dataset splits that the config's jobs will read), then *fetches* (:func:`fetch`):

* models and tokenizers: ``huggingface_hub.snapshot_download`` at the pinned revision with
  :data:`MODEL_PATTERNS` (configs, tokenizer files, ``*.safetensors``; never
  ``pytorch_model.bin``: xstilts loads safetensors only);
* datasets: ``datasets.load_dataset(repo, config, split=..., revision=...)``, which fills the
  datasets cache exactly as the jobs will read it.

Then it writes a manifest (``results/prefetch/manifest.json``: what was fetched, the resolved
commits, row counts).  Compute jobs run with ``HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1``;
anything missing fails with an error naming it (``xstilts.stages.data.read_hub``).  Tasks with a local
mirror (``data.local_root`` / ``data.tasks``) are not fetched.  Toy mode needs no Hub: the plan
is empty.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from xstilts.core import paths
from xstilts.stages.data import expand_configs, source_parts
from xstilts.core.registry import Source, get_task

# what a model snapshot keeps: configs, tokenizer files (json/txt/sentencepiece), safetensors
MODEL_PATTERNS = ["*.json", "*.safetensors", "*.model", "*.txt"]
OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")


class PrefetchError(RuntimeError):
    pass


def manifest_path() -> str:
    return paths.prefetch_manifest()


@dataclass(frozen=True)
class ModelItem:
    repo: str
    revision: str | None
    used_as: tuple[str, ...] = ()  # "model:<name>" / "tokenizer:<name>"


@dataclass(frozen=True)
class DatasetItem:
    repo: str
    config: str | None
    split: str
    revision: str | None
    used_by: tuple[str, ...] = ()  # "<task>:<part>"

    @property
    def key(self) -> tuple:
        return (self.repo, self.config, self.split, self.revision)


@dataclass
class Plan:
    benchmark: str
    models: list[ModelItem] = field(default_factory=list)
    datasets: list[DatasetItem] = field(default_factory=list)
    local: dict[str, str] = field(default_factory=dict)  # task -> local mirror root (not fetched)
    # task -> how to provide its data: not on the Hub (licensed) and no local path configured;
    # not fetched: its prepare job stops with this explanation
    needs_local: dict[str, str] = field(default_factory=dict)
    local_models: dict[str, str] = field(default_factory=dict)  # local model folder -> its users

    def to_json(self) -> dict:
        return {"benchmark": self.benchmark, "models": [asdict(m) for m in self.models],
                "datasets": [asdict(d) for d in self.datasets], "local": self.local,
                "local_models": self.local_models, "needs_local": self.needs_local}


def task_sources(task_name: str, languages: list[str] | None) -> list[tuple[str, Source]]:
    """``(part, Source)`` of every split a task's jobs read: train and dev, plus the test split
    of every evaluation language of a target (``languages``; None: not a target)."""
    task = get_task(task_name)
    out = [("train", task.train), ("dev", task.dev)]
    if languages is not None:
        out += [(paths.test_part(lang), task.test_source(lang)) for lang in languages]
    return [(part, src) for part, src in out if src is not None]


def model_users(cfg) -> dict[tuple, list[str]]:
    """``{(hf_id, revision): ["model:<name>" / "tokenizer:<name>", ...]}`` of a real config: each
    snapshot once, with everything that reads it."""
    users: dict[tuple, list[str]] = {}
    for kind, names, spec_of in (("model", cfg.models, cfg.model), ("tokenizer", cfg.tokenizers, cfg.tokenizer)):
        for name in names:
            spec = spec_of(name)
            users.setdefault((spec["hf_id"], spec.get("revision")), []).append(f"{kind}:{name}")
    return users


def plan(cfg) -> Plan:
    """What the config's jobs will read from the Hub (no network)."""
    p = Plan(cfg.benchmark)
    if cfg.is_toy:
        return p
    for (repo, rev), used in model_users(cfg).items():
        if is_local_model(repo):  # read in place, nothing to fetch
            p.local_models[repo] = ", ".join(used)
        else:
            p.models.append(ModelItem(repo, rev, tuple(used)))
    splits: dict[tuple, list[str]] = {}
    for task in cfg.data_tasks():
        root = cfg.local_root(task)
        if root:
            p.local[task] = root
            continue
        for part, whole in task_sources(task, cfg.eval_languages(task) if task in cfg.targets else None):
            if whole.local_only:  # licensed or not on the Hub: explained, not fetched
                p.needs_local[task] = whole.local_only
                continue
            for src, _ in source_parts(expand_configs(get_task(task), whole, None)):  # a "+"-joined source is several splits
                splits.setdefault((src.repo, src.config, src.split, src.revision), []).append(f"{task}:{part}")
    p.datasets = [DatasetItem(*key, used_by=tuple(used)) for key, used in splits.items()]
    return p


def hf_dirs() -> tuple[Path, Path]:
    """The Hub and datasets caches, as huggingface_hub and datasets resolve them."""
    env = lambda name: os.path.expanduser(os.environ.get(name) or "")  # noqa: E731
    home = Path(env("HF_HOME") or Path(env("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface")
    return Path(env("HF_HUB_CACHE") or home / "hub"), Path(env("HF_DATASETS_CACHE") or home / "datasets")


def snapshot_dir(repo: str, revision: str | None) -> Path:
    """Where the hub cache keeps a model at a revision (a commit or a ref), present or not."""
    hub, _ = hf_dirs()
    repo_dir = hub / ("models--" + repo.replace("/", "--"))
    rev = revision or "main"
    ref = repo_dir / "refs" / rev
    commit = ref.read_text().strip() if ref.is_file() else rev
    return repo_dir / "snapshots" / commit


def is_local_model(repo: str) -> bool:
    """Whether a model or tokenizer ``hf_id`` is a local folder (read in place, never fetched)."""
    return Path(repo).is_dir()


def model_folder(repo: str, revision: str | None) -> Path:
    """Where a model's files are read from: the local folder ``repo``, else its hub-cache
    snapshot at ``revision`` (present or not)."""
    return Path(repo) if is_local_model(repo) else snapshot_dir(repo, revision)


def model_snapshot(repo: str, revision: str | None) -> Path | None:
    """The hub-cache snapshot folder of a model at a revision, if it holds safetensors weights."""
    snap = snapshot_dir(repo, revision)
    return snap if snap.is_dir() and any(snap.glob("*.safetensors")) else None


def cached_split(repo: str, config: str | None) -> Path | None:
    """The datasets-cache folder of a Hub dataset config, or None."""
    _, ds = hf_dirs()
    folder = ds / repo.replace("/", "___") / (config or "default")
    return folder if folder.is_dir() and any(folder.iterdir()) else None


def _check_online() -> None:
    on = [v for v in OFFLINE_VARS if os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")]
    if on:
        raise PrefetchError(f"prefetch downloads from the Hub, but {', '.join(on)} is set here: run it "
                            f"on a machine with network access, without {'/'.join(on)}")


def _check_reachable(needed: int, attempts: int = 3) -> None:
    """Raise one :class:`PrefetchError` when the Hub endpoint answers nothing (connection
    refused, no route, unknown host, timeout), after ``attempts`` tries.  Without this check the
    libraries retry every item with backoff (about 23 s each) before failing it, so a grid of a
    hundred splits on a machine without network would take most of an hour to say so.  Any HTTP
    answer, whatever its status, counts as reachable: a missing repository is an item's own
    failure, reported with the others."""
    from huggingface_hub import constants
    from huggingface_hub.utils import get_session

    for attempt in range(attempts):
        try:
            get_session().head(constants.ENDPOINT, timeout=constants.HF_HUB_ETAG_TIMEOUT)
            return
        except Exception as err:  # noqa: BLE001 - the transport's errors differ between versions
            last = err
        if attempt + 1 < attempts:
            time.sleep(2**attempt)
    raise PrefetchError(f"the Hugging Face Hub at {constants.ENDPOINT} cannot be reached ({_reason(last)}; "
                        f"{attempts} tries), and {needed} item(s) of the plan must be downloaded from it: "
                        "run prefetch on a machine whose network reaches the Hub (the submit host), or "
                        "set HF_ENDPOINT to a mirror that it reaches")


def fetch_model(item: ModelItem) -> dict:
    from huggingface_hub import snapshot_download

    path = Path(snapshot_download(item.repo, revision=item.revision, allow_patterns=MODEL_PATTERNS))
    files = sorted(str(f.relative_to(path)) for f in path.rglob("*") if f.is_file())
    if not any(f.endswith(".safetensors") for f in files):
        raise PrefetchError(f"{item.repo}@{item.revision}: no *.safetensors weights (xstilts loads "
                            f"safetensors only; pick a revision that has them)")
    return {**asdict(item), "resolved": path.name, "path": str(path), "files": files}


def fetch_dataset(item: DatasetItem) -> dict:
    import datasets

    ds = datasets.load_dataset(item.repo, item.config, split=item.split, revision=item.revision)
    return {**asdict(item), "rows": ds.num_rows, "fingerprint": getattr(ds, "_fingerprint", None)}


def fetch(p: Plan, log=print, on_missing: str = "fail") -> dict:
    """Download everything in the plan, item by item; returns the manifest, whose ``missing``
    lists every item that could not be fetched and why (and every task that needs local data).
    ``on_missing="fail"``: any missing item raises one :class:`PrefetchError` listing them all
    (after every item was tried); ``"skip"``: the manifest records them and the rest is kept.
    A Hub that cannot be reached at all is one :class:`PrefetchError` in either mode, before any
    item (:func:`_check_reachable`): it says where prefetch runs, not which sources exist."""
    manifest = {"benchmark": p.benchmark, "models": [], "datasets": [], "local": p.local,
                "local_models": p.local_models, "missing": [],
                "hf_home": os.environ.get("HF_HOME"), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    for task, hint in sorted(p.needs_local.items()):
        manifest["missing"].append({"kind": "local-data", "name": task, "used_by": [task],
                                    "reason": hint})
    cached = {item: model_snapshot(item.repo, item.revision) for item in p.models}
    needed = sum(path is None for path in cached.values()) + len(p.datasets)
    if needed:
        _check_online()
        _check_reachable(needed)
    for item in p.models:
        if cached[item] is not None:  # already in the cache at this revision: no download
            files = sorted(str(f.relative_to(cached[item])) for f in cached[item].rglob("*") if f.is_file())
            manifest["models"].append({**asdict(item), "resolved": cached[item].name,
                                       "path": str(cached[item]), "files": files, "cached": True})
            log(f"model {item.repo}@{item.revision}: in the cache ({cached[item]})")
            continue
        try:
            manifest["models"].append(fetch_model(item))
            log(f"model {item.repo}@{item.revision}: ok")
        except Exception as err:  # noqa: BLE001 - reported together below
            manifest["missing"].append({"kind": "model", "name": f"{item.repo}@{item.revision}",
                                        "used_by": list(item.used_as), "reason": _reason(err)})
            log(f"model {item.repo}@{item.revision}: NOT fetched: {_reason(err)}")
    for item in p.datasets:
        name = f"{item.repo}/{item.config or 'default'}:{item.split}@{item.revision}"
        try:
            manifest["datasets"].append(fetch_dataset(item))
            log(f"dataset {name}: {manifest['datasets'][-1]['rows']} rows")
        except Exception as err:  # noqa: BLE001
            manifest["missing"].append({"kind": "dataset", "name": name, "used_by": list(item.used_by),
                                        "reason": _reason(err)})
            log(f"dataset {name} (for {', '.join(item.used_by)}): NOT fetched: {_reason(err)}")
    fetched = [m for m in manifest["missing"] if m["kind"] != "local-data"]
    if fetched and on_missing == "fail":
        raise PrefetchError(
            f"{len(fetched)} of {len(p.models) + len(p.datasets)} items could not be fetched "
            "(a script-only or licensed dataset needs a local mirror: config data.tasks; or set "
            "data.on_missing_data: skip to leave their cells out):\n  "
            + "\n  ".join(describe_missing(m) for m in manifest["missing"]))
    manifest["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    return manifest


def _reason(err: Exception) -> str:
    """One line: the error's first line (a Hub error can be a page long)."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:300]


def describe_missing(m: dict) -> str:
    return f"{m['kind']} {m['name']} (for {', '.join(m['used_by'])}): {m['reason']}"


def write_manifest(manifest: dict, path: str | None = None) -> str:
    from xstilts.stages.common import write_json

    path = path or manifest_path()
    write_json(manifest, path)
    return path


def run(cfg, out: str | None = None, dry_run: bool = False) -> None:
    """The ``prefetch`` stage: snapshot every Hub model and dataset split of the config.
    ``--dry-run`` prints the plan as JSON on stdout (log lines go to stderr)."""
    import sys

    from xstilts.stages.common import log as log_out

    def log(msg: str) -> None:
        if dry_run:  # stdout carries only the JSON plan
            print(f"[xstilts {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)
        else:
            log_out(msg)

    p = plan(cfg)
    log(f"prefetch plan: {len(p.models)} model snapshots, {len(p.datasets)} dataset splits"
        + (f", local mirrors for {', '.join(sorted(p.local))}" if p.local else "")
        + (f", local model folders {', '.join(sorted(p.local_models))}" if p.local_models else "")
        + (" (toy benchmark: nothing to fetch)" if cfg.is_toy else ""))
    for task, hint in sorted(p.needs_local.items()):
        log(f"not fetched, {task} needs local data: {hint}")
    if dry_run:
        print(json.dumps(p.to_json(), indent=2))
        return
    try:
        manifest = fetch(p, log=log, on_missing=cfg.on_missing_data)
    except PrefetchError as err:
        print(f"xstilts prefetch: {err}", file=sys.stderr)
        sys.exit(1)
    for m in manifest["missing"]:
        log(f"missing (data.on_missing_data: {cfg.on_missing_data}): {describe_missing(m)}")
    # the Snakefile validated before the models were here: their config.json bound max_length now
    cfg.check_model_limits()
    log(f"prefetch manifest -> {write_manifest(manifest, out)}")

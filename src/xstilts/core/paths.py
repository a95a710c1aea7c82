"""The path contract: every artifact path of the workflow is built here and only here.

The Snakemake rules and the CLI both call these functions, so a cell can be rebuilt by asking
Snakemake for the path that this module gives it (for example
``results/cells/tiny-2x64/mnli/xnli/s1/eval.json``).  Arguments may be Snakemake wildcard
patterns such as ``"{model}"``: the functions only format strings.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

RESULTS = "results"
REPORTS = "reports"
CONFIG_FILE = "config/config.yaml"  # the embedded default config


def config_snapshot(text: str) -> str:
    """The merged, validated config the Snakefile hands to its jobs, named by the SHA-256 of its
    text (``config.snapshot_text``): the file's name proves that its content is what the
    Snakefile validated."""
    return f"{RESULTS}/.config/{hashlib.sha256(text.encode()).hexdigest()[:12]}.json"


def is_config_snapshot(path: str | Path, text: str) -> bool:
    """Whether ``path`` is a config snapshot of exactly ``text`` (any results root)."""
    path, want = Path(path), Path(config_snapshot(text))
    return path.parts[-2:] == want.parts[-2:]


def toy_root() -> str:
    return f"{RESULTS}/toy"


def toy_manifest() -> str:
    return f"{toy_root()}/manifest.json"


def toy_hub() -> str:
    """Local Hub mirror with the toy twins: ``<root>/<repo>/<config>/<split>.parquet``."""
    return f"{toy_root()}/hub"


def toy_corpus(lang: str) -> str:
    return f"{toy_root()}/corpus/{lang}.txt"


def toy_lexicon() -> str:
    """Every word form of the toy world, one per line (tokenizer training)."""
    return f"{toy_root()}/corpus/lexicon.txt"


def toy_encoder_store() -> str:
    """Pretrained toy encoders shipped with the package, the toy equivalent of a Hub snapshot:
    one folder per content key (``stages/pretrain.py`` ``encoder_key``)."""
    return str(Path(__file__).resolve().parents[1] / "toy" / "encoders")


def toy_encoder_shipped(key: str) -> str:
    return f"{toy_encoder_store()}/{key}"


def tokenizer_dir(tokenizer: str) -> str:
    return f"{RESULTS}/tokenizers/{tokenizer}"


def tokenizer_file(tokenizer: str) -> str:
    return f"{tokenizer_dir(tokenizer)}/tokenizer.json"


def data_dir(tokenizer: str, task: str) -> str:
    return f"{RESULTS}/data/{tokenizer}/{task}"


def manifest_file(data: str) -> str:
    """The manifest of a task's data directory (what the prepare step wrote)."""
    return f"{data}/manifest.json"


def data_manifest(tokenizer: str, task: str) -> str:
    return manifest_file(data_dir(tokenizer, task))


TRAIN, DEV = "train", "dev"  # the English parts of a task
HELDOUT = "heldout"  # the held-out part of the MLM corpus


def mlm_corpus_dir(tokenizer: str) -> str:
    """The tokenized multilingual corpus of the ``+mlm`` intermediates (``train``/``heldout``
    parts; ``_`` cannot start a task name, so it shares no folder with a task)."""
    return f"{RESULTS}/data/{tokenizer}/_mlm-corpus"


def translate_dir(tokenizer: str, task: str) -> str:
    """The tokenized translations of a task's training set (one ``train-<lang>`` part per
    language) for its ``+translate`` intermediate."""
    return f"{RESULTS}/data/{tokenizer}/_translate/{task}"


def train_part(lang: str) -> str:
    """The name of one language's translated training part (``train-<lang>``)."""
    return f"train-{lang}"


def test_part(lang: str) -> str:
    """The name of one language's test part (``test-<lang>``)."""
    return f"test-{lang}"


def test_language(part: str) -> str | None:
    """The language of a ``test-<lang>`` part name (None for ``train``/``dev``)."""
    return part[len("test-"):] if part.startswith("test-") else None


def prefetch_manifest() -> str:
    """What the ``prefetch`` rule snapshotted into the HF cache (real mode)."""
    return f"{RESULTS}/prefetch/manifest.json"


def data_file(data: str, part: str) -> str:
    """One tokenized part (``train``, ``dev``, ``test-<lang>``) of a task's data directory."""
    return f"{data}/{part}.parquet"


def data_test(data: str, lang: str) -> str:
    """The tokenized test part of one language."""
    return data_file(data, test_part(lang))


def base_dir(model: str) -> str:
    return f"{RESULTS}/models/{model}/base"


def inter_dir(model: str, inter: str, seed) -> str:
    return f"{RESULTS}/models/{model}/inter/{inter}/s{seed}"


def checkpoint_done(ckpt_dir: str) -> str:
    """Every checkpoint directory ends with a ``cost.json``: Snakemake tracks that file."""
    return f"{ckpt_dir}/cost.json"


def staged_eval_dir(ckpt_dir: str) -> str:
    """The evaluation a target job makes of its checkpoint right after training, in memory
    (``eval.json``, ``predictions/``, ``key``): the ``evaluate`` job adopts it when the key still
    matches instead of starting torch and loading the model again."""
    return f"{ckpt_dir}/eval"


def staged_eval(ckpt_dir: str) -> str:
    return f"{staged_eval_dir(ckpt_dir)}/eval.json"


def staged_predictions(ckpt_dir: str) -> str:
    return f"{staged_eval_dir(ckpt_dir)}/predictions"


def staged_key(ckpt_dir: str) -> str:
    return f"{staged_eval_dir(ckpt_dir)}/key"


def cell_dir(model: str, inter: str, target: str, seed) -> str:
    return f"{RESULTS}/cells/{model}/{inter}/{target}/s{seed}"


def cell_model_dir(model: str, inter: str, target: str, seed) -> str:
    return f"{cell_dir(model, inter, target, seed)}/model"


def cell_eval(model: str, inter: str, target: str, seed) -> str:
    return f"{cell_dir(model, inter, target, seed)}/eval.json"


def cell_predictions(model: str, inter: str, target: str, seed) -> str:
    return f"{cell_dir(model, inter, target, seed)}/predictions"


def submission_file(out_dir, task: str, lang: str, ext: str) -> Path:
    """One language's file in the XTREME submission layout: ``<out_dir>/<task>/test-<lang>.<ext>``
    (predictions of a cell, or the gold labels)."""
    return Path(out_dir) / task / f"{test_part(lang)}.{ext}"


SUBMISSION_NAME = re.compile(r"^test-(?P<lang>[^.]+)\.(?P<ext>.+)$")


def parse_submission(name: str) -> tuple[str, str] | None:
    """``(lang, ext)`` of a submission file name, or None."""
    m = SUBMISSION_NAME.match(name)
    return (m["lang"], m["ext"]) if m else None


def cell_profile(model: str, inter: str, target: str, seed) -> str:
    """A cell's training cost (``CellCost``), written by its evaluate job next to ``eval.json``."""
    return cost_next_to(cell_eval(model, inter, target, seed))


def cost_next_to(eval_file) -> str:
    """The cell cost record that belongs to an ``eval.json``: ``profile.json`` beside it."""
    return os.path.join(os.path.dirname(eval_file), "profile.json")


CELL_GLOB = "cells/*/*/*/s*/eval.json"  # every cell's eval.json, below the results root
INFERENCE_PROFILE_GLOB = "profile/*/*/profile.json"
BASELINE_GLOB = "baselines/*/eval.json"
BENCHMARK_DIR = "benchmarks"


def parse_cell(path) -> tuple[str, str, str, int] | None:
    """``(model, inter, target, seed)`` of a path inside a cell directory
    (``.../cells/<model>/<inter>/<target>/s<seed>[/...]``), else None."""
    parts = Path(path).parts
    for i in range(len(parts) - 5, -1, -1):
        if parts[i] == "cells" and re.fullmatch(r"s\d+", parts[i + 4]):
            return parts[i + 1], parts[i + 2], parts[i + 3], int(parts[i + 4][1:])
    return None


def project_root(cell_file) -> Path | None:
    """The directory that holds ``results/`` for a file inside a cell directory."""
    parts = Path(cell_file).parts
    for i in range(len(parts) - 5, -1, -1):
        if parts[i] == "cells" and i >= 1 and parts[i - 1] == RESULTS:
            return Path(*parts[:i - 1]) if i > 1 else Path(".")
    return None


def inference_profile_dir(model: str, target: str) -> str:
    return f"{RESULTS}/profile/{model}/{target}"


def inference_profile(model: str, target: str) -> str:
    return f"{inference_profile_dir(model, target)}/profile.json"


def baseline_eval(target: str) -> str:
    return f"{RESULTS}/baselines/{target}/eval.json"


def labels_dir() -> str:
    """Gold labels in the XTREME submission layout (for ``xstilts score``)."""
    return f"{RESULTS}/labels"


def tables_dir() -> str:
    return f"{RESULTS}/tables"


def table(name: str) -> str:
    return f"{tables_dir()}/{name}.parquet"


def left_out_file(tables: str | None = None) -> str:
    """The cells left out for missing data (``data.on_missing_data: skip``), written when the
    workflow is planned; beside the tables, read by the report."""
    return f"{tables or tables_dir()}/left_out.json"


def figures_dir() -> str:
    return f"{REPORTS}/figures"


def report_html() -> str:
    return f"{REPORTS}/report.html"


def log(rule: str, *parts) -> str:
    return f"{RESULTS}/logs/" + "/".join([rule, *map(str, parts)]) + ".log"


def benchmark(rule: str, *parts) -> str:
    return f"{RESULTS}/benchmarks/" + "/".join([rule, *map(str, parts)]) + ".tsv"


def log_of_benchmark(path) -> str | None:
    """The log of the job whose benchmark file is ``path`` (both are named by rule and wildcards
    below ``results/``); None for a file outside a ``benchmarks`` folder."""
    parts = Path(path).parts
    if BENCHMARK_DIR not in parts[:-1]:
        return None
    i = len(parts) - 1 - parts[::-1].index(BENCHMARK_DIR)
    return str(Path(*parts[:i], "logs", *parts[i + 1:]).with_suffix(".log"))


def warm_log() -> str:
    """One line per job of a local run with ``warm_start``: warm or cold, and why (xstilts/warm.py)."""
    return f"{RESULTS}/logs/warm.log"


def under_root(path: str, root) -> Path:
    """A path of this contract (``results/...``) under another results root ``root``."""
    return Path(root) / Path(path).relative_to(RESULTS)


def state_dir(ckpt_dir: str) -> str:
    """Resumable training state of the phase that writes ``ckpt_dir``.

    It lives outside the rule's outputs (Snakemake deletes the outputs of a failed job), under
    ``results/state/<checkpoint path relative to results/>``; a checkpoint directory outside
    ``results/`` keeps its state next to it, in ``<ckpt_dir>.state``.
    """
    norm = ckpt_dir.rstrip("/")
    prefix = f"{RESULTS}/"
    if norm.startswith(prefix):
        return f"{RESULTS}/state/{norm[len(prefix):]}"
    return f"{norm}.state"

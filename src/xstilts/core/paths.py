"""The path contract: every artifact path of the workflow is built here and only here.

The Snakemake rules and the CLI both call these functions, so a cell can be rebuilt by asking
Snakemake for the path that this module gives it (for example
``results/cells/tiny-2x64/mnli/xnli/s1/eval.json``).  Arguments may be Snakemake wildcard
patterns such as ``"{model}"``: the functions only format strings.
"""

from __future__ import annotations

from pathlib import Path

RESULTS = "results"
REPORTS = "reports"

# Intermediate "tasks" that are not tasks: the pretrained encoder straight to the target,
# a random-init control, and a multi-task mixture listed in the config.
NONE = "none"
SCRATCH = "scratch"
MULTITASK = "multitask"
SPECIAL_INTERS = (NONE, SCRATCH, MULTITASK)


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


def data_manifest(tokenizer: str, task: str) -> str:
    return f"{data_dir(tokenizer, task)}/manifest.json"


def data_part(tokenizer: str, task: str, part: str) -> str:
    """``part`` is ``train``, ``dev`` or ``test-<lang>``."""
    return f"{data_dir(tokenizer, task)}/{part}.parquet"


def base_dir(model: str) -> str:
    return f"{RESULTS}/models/{model}/base"


def inter_dir(model: str, inter: str, seed) -> str:
    return f"{RESULTS}/models/{model}/inter/{inter}/s{seed}"


def checkpoint_done(ckpt_dir: str) -> str:
    """Every checkpoint directory ends with a ``cost.json``: Snakemake tracks that file."""
    return f"{ckpt_dir}/cost.json"


def cell_dir(model: str, inter: str, target: str, seed) -> str:
    return f"{RESULTS}/cells/{model}/{inter}/{target}/s{seed}"


def cell_model_dir(model: str, inter: str, target: str, seed) -> str:
    return f"{cell_dir(model, inter, target, seed)}/model"


def cell_eval(model: str, inter: str, target: str, seed) -> str:
    return f"{cell_dir(model, inter, target, seed)}/eval.json"


def cell_predictions(model: str, inter: str, target: str, seed) -> str:
    return f"{cell_dir(model, inter, target, seed)}/predictions"


def cell_profile(model: str, inter: str, target: str, seed) -> str:
    return f"{cell_dir(model, inter, target, seed)}/profile.json"


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


def figures_dir() -> str:
    return f"{REPORTS}/figures"


def report_html() -> str:
    return f"{REPORTS}/report.html"


def log(rule: str, *parts) -> str:
    return f"{RESULTS}/logs/" + "/".join([rule, *map(str, parts)]) + ".log"


def benchmark(rule: str, *parts) -> str:
    return f"{RESULTS}/benchmarks/" + "/".join([rule, *map(str, parts)]) + ".tsv"


def ckpt_base_for_inter(model: str, inter: str, seed) -> str:
    """The encoder a target phase starts from: the base model for ``none``, the
    intermediate checkpoint otherwise (``scratch`` gets a random init of the base
    architecture, so it also points at the base directory for the config)."""
    if inter in (NONE, SCRATCH):
        return base_dir(model)
    return inter_dir(model, inter, seed)


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

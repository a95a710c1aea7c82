# Config -> cell lists, wildcard constraints, input functions, resources by model size.
import inspect
import json
import os
import re
import sys
from functools import lru_cache


from xstilts.core import paths as P
from xstilts.core.config import ConfigError, snapshot_text, validate
from xstilts.stages.distributed import shell_launcher
from xstilts.stages.prefetch import manifest_path as prefetch_manifest_path
from xstilts.stages.data import input_files, input_sources
from xstilts.stages.data_check import missing_data, missing_message, split_cells
from xstilts.stages.prefetch import plan as prefetch_plan

try:
    CFG = validate(config, source="config (config/config.yaml + --configfile/--config overrides)",
                   check_paths=True)
except ConfigError as err:
    sys.exit(f"xstilts: {err}")

# The merged, validated config, content-addressed, for the `xstilts` CLI inside jobs.
_cfg_text = snapshot_text(CFG.raw)
CONFIG_FILE = P.config_snapshot(_cfg_text)
if not os.path.exists(CONFIG_FILE):  # content-addressed: written once, atomically
    from xstilts.stages.common import write_text

    write_text(CONFIG_FILE, _cfg_text)
os.environ.update(XSTILTS_CONFIG=CONFIG_FILE)  # read by the `xstilts` CLI (cli.py)
XS = "xstilts"
ENV = "../envs/xstilts.yaml"  # conda env of every rule (relative to the rule files)

CELLS = CFG.cells()  # xstilts.core.cell.Cell objects

# data availability (xstilts.stages.data_check): every missing item at once, before any job;
# `fail` stops here, `skip` leaves out exactly the cells that need it (one line each)
MISSING = missing_data(CFG)
if MISSING and CFG.on_missing_data == "fail":
    sys.exit(f"xstilts: {missing_message(CFG, MISSING)}")
CELLS, LEFT_OUT = split_cells(CFG, CELLS, MISSING)
for _cell, _why in LEFT_OUT:
    print(f"xstilts: left out {'/'.join(map(str, _cell.key))}: {_why}", file=sys.stderr)
if not LEFT_OUT and os.path.exists(P.left_out_file()):
    os.remove(P.left_out_file())
if LEFT_OUT:
    os.makedirs(os.path.dirname(P.left_out_file()), exist_ok=True)
    with open(P.left_out_file(), "w") as fh:
        json.dump({"cells": {"/".join(map(str, c.key)): why for c, why in LEFT_OUT},
                   "how": missing_message(CFG, MISSING)}, fh, indent=2)
TARGETS = list(dict.fromkeys(c.target for c in CELLS))  # the targets with a cell left


def cell_files(path_fn):
    """One path per cell, from a path-contract function."""
    return [path_fn(*cell.key) for cell in CELLS]


# the inference profiles of the cells' (model, target) pairs: the aggregate rule reads them
INFERENCE_PROFILES = sorted({P.inference_profile(cell.model, cell.target) for cell in CELLS})

TABLES = ["cells", "languages", "jobs"]
STAT_TABLES = ["gains", "scores", "efficiency", "breakeven"]  # analysis/gains.py STAT_TABLES
FIGURE_NAMES = ["accuracy_vs_latency", "gain_vs_inter_flops", "zero_shot_languages", "cost_breakdown",
                "jobs_by_rule", "layer_sweep", "pareto", "size_interaction"]
# statistics, plotting and report code are inputs of their rules: editing them reruns exactly
# those rules (and what reads their outputs), never training or evaluation
_ANALYSIS = os.path.join(workflow.basedir, "src/xstilts/analysis")
STATS_CODE = [f"{_ANALYSIS}/stats.py", f"{_ANALYSIS}/gains.py"]
PLOTS_CODE = os.path.join(_ANALYSIS, "plots.py")
REPORT_CODE = [f"{_ANALYSIS}/report.py", f"{_ANALYSIS}/findings.py", f"{_ANALYSIS}/controls.py"]
FIGURES = [f"{P.figures_dir()}/{n}.{ext}" for n in FIGURE_NAMES
           for ext in CFG.plots["formats"]]


def _alt(names):
    """A wildcard constraint matching exactly these names (escaped: ``mnli+mlm`` holds a ``+``)."""
    return "|".join(re.escape(str(n)) for n in sorted(map(str, names))) or "^$"


wildcard_constraints:
    model=_alt(CFG.models),
    inter=_alt(CFG.intermediates + CFG.controls),
    target=_alt(CFG.targets),
    task=_alt(CFG.data_tasks()),
    tokenizer=_alt(CFG.tokenizers),
    seed=r"\d+",


def toy_inputs(wildcards=None):
    """Every toy stage depends on the generated benchmark; real stages do not."""
    return [P.toy_manifest()] if CFG.is_toy else []


def mirror_inputs(wildcards):
    """The local mirror files a task's prepare job reads (real mode): changing one reruns it."""
    task = wildcards.task if hasattr(wildcards, "task") else wildcards.target
    return [] if CFG.is_toy else input_files(CFG, task)


def per_job(fn):
    """An input, params or resource function of a rule with many jobs (target, evaluate).
    Snakemake inspects a function's signature each time it calls it (``inspect.signature``,
    about 20 us; twice per input function and job); this records it once, through the hook
    Snakemake's own ``snakemake.ioutils`` helpers use.  A Snakemake without the hook gets the
    function unchanged."""
    try:
        from snakemake.common import overwrite_function_params
    except ImportError:
        return fn
    overwrite_function_params(fn, inspect.signature(fn).parameters)
    return fn


def _per_job_resources():
    """Snakemake evaluates each resource of each job through ``Resource.evaluate`` and inspects
    that method's signature twice per call: about 29,000 inspections (0.4 s) in paper.yaml's
    dry run, for one and the same function.  Its signature is recorded once, as ``per_job``
    does for the workflow's own functions."""
    try:
        from snakemake.resources import Resource
    except ImportError:
        return
    if inspect.isfunction(vars(Resource).get("evaluate")):  # as in Snakemake 9: a plain method
        per_job(Resource.evaluate)


_per_job_resources()


# The input and params functions below are pure in their arguments and asked for by many jobs:
# each result is computed once.
@lru_cache(maxsize=None)
def data_of(model, task):
    return P.data_manifest(CFG.tokenizer_of(model), task)


@lru_cache(maxsize=None)
def init_of(model, inter, seed):
    """The checkpoint a target phase starts from (base for none/scratch)."""
    return P.checkpoint_done(CFG.inter(inter).start(model, seed))


def variant_inputs(wc):
    """What a +mlm / +translate intermediate reads besides its task's data: the tokenized MLM
    corpus, or the task's tokenized translations (nothing for a plain intermediate)."""
    inter, tok = CFG.inter(wc.inter), CFG.tokenizer_of(wc.model)
    if inter.mlm:
        return [P.manifest_file(P.mlm_corpus_dir(tok))]
    if inter.translate:
        return [P.manifest_file(P.translate_dir(tok, t)) for t in inter.tasks]
    return []


@lru_cache(maxsize=None)
def mix_param(inter):
    """The multitask mixture and a variant's options (``mlm:``, ``translate:``) an intermediate
    trains with: changing ``mlm:`` reruns only the +mlm intermediates, ``translate:`` only the
    +translate ones (a plain intermediate's param is unchanged: ``null`` or its mixture)."""
    mix = CFG.multitask if CFG.inter(inter).is_mixture else None
    variant = CFG.variant_settings(inter)
    if variant is None:
        return json.dumps(mix)  # as before the variants existed: plain intermediates keep their param
    return json.dumps({"multitask": mix, **variant}, sort_keys=True)


def mlm_corpus_inputs(wildcards=None):
    """The toy manifest (toy mode) or the corpus files of ``mlm.corpus`` (real mode)."""
    if CFG.is_toy:
        return [P.toy_manifest()]
    from xstilts.stages.mlm_corpus import corpus_files

    return sorted(corpus_files(CFG).values())


def translate_inputs(wildcards):
    """The toy manifest (toy mode) or the translation source's files (real mode)."""
    if CFG.is_toy:
        return [P.toy_manifest()]
    from xstilts.stages.translate import source_files

    return [str(f) for f in source_files(CFG, wildcards.task)]


@lru_cache(maxsize=None)
def _eval_inputs(model, inter, target, seed):
    cell = CFG.cell(model, inter, target, seed)
    model_input = ("model", P.checkpoint_done(cell.evaluated))
    return (model_input, ("data", data_of(model, target))) if cell.zero_shot else (model_input,)


@per_job
def eval_inputs(wc):
    """What a cell's evaluation reads: its target checkpoint, or for a zero-shot target (no
    training set: BUCC, Tatoeba) the checkpoint the target phase would have started from, and
    the target's tokenized data.  A trained target's checkpoint already depends on that data
    (its target job reads the same manifest), so only a zero-shot cell lists it: each listed
    file costs `snakemake` a lookup per job."""
    return dict(_eval_inputs(wc.model, wc.inter, wc.target, wc.seed))


@lru_cache(maxsize=None)
def eval_param(model, target):
    """What evaluation reads from the config besides the checkpoint (decoding options such as
    QA's max_answer_length, the retrieval layer): changing it reruns the evaluation."""
    return json.dumps(CFG.options(target, "target", model=model), sort_keys=True)


@lru_cache(maxsize=None)
def hp_param(task, phase):
    """The hyperparameters that change a training result, as a param: changing them reruns
    exactly the affected jobs (operational ones such as save_every rerun nothing)."""
    return json.dumps(CFG.result_hparams(task, phase), sort_keys=True)


@lru_cache(maxsize=None)
def prepare_param(task):
    """What tokenization reads from the config (max_length, dev_size, encoding options, ...)
    and, in real mode, the splits and Hub revisions it reads: a new revision reruns it (toy
    data is an input: the toy manifest)."""
    settings = json.dumps(CFG.prepare_settings(task), sort_keys=True)
    return settings if CFG.is_toy else f"{settings} {json.dumps(input_sources(CFG, task), sort_keys=True)}"


def nproc_of(model):
    """Training processes per job: resources.nproc, else one per GPU (torchrun DDP when > 1)."""
    res = CFG.resources(model)
    return int(res.get("nproc") or max(int(res.get("gpus") or 0), 1))


RESOURCES = {m: CFG.resources(m) for m in CFG.models}  # resolved once


def per_model(values):
    """A resource of model-sized rules from ``{model: value}``: the value itself when every
    model has the same one, else a function of the job's model.  Snakemake evaluates a function
    resource for every job at DAG time (about 0.1 ms each, ~2,400 jobs x 6 resources for
    paper.yaml); a constant costs nothing."""
    if len(set(values.values())) == 1:
        return next(iter(values.values()))
    return per_job(lambda wc: values[wc.model])


def res(key):
    """Resources of model-sized rules, from config (per model, over defaults)."""
    return per_model({m: RESOURCES[m][key] for m in CFG.models})


GPU_RESOURCES = dict(
    gpu=res("gpus"),  # 0: no GPU requested (the slurm plugin adds --gpus only for > 0)
    cpus_per_task=res("cpus"),
    mem_mb=res("mem_mb"),
    runtime=res("runtime"),  # minutes
)
if any("gpu_model" in CFG.resources(m) for m in CFG.models):
    GPU_RESOURCES["gpu_model"] = per_model({m: RESOURCES[m].get("gpu_model", "") for m in CFG.models})
NPROC = per_model({m: nproc_of(m) for m in CFG.models})  # the training rules' resources.nproc

# An evaluate job whose target job staged a still-valid evaluation only copies it (no model, no
# torch; 0.15 s), so it asks for a CPU slot, not the model's GPU.  Snakemake evaluates a job's
# resources again when the job becomes ready, after its target job has run (a dry run before
# that shows the model's resources).
ADOPT_RESOURCES = dict(gpu=0, gpu_model="", cpus_per_task=1, mem_mb=1000, runtime=10)


def adopts(wc):
    """Whether this evaluate job will only copy its target job's staged evaluation.  Asked once
    per resource: the answer is kept per cell and staged key file (a rerun target job writes
    that file again; a changed config is a new Snakemake process)."""
    cell = CFG.cell(wc.model, wc.inter, wc.target, wc.seed)
    try:
        stamp = os.stat(P.staged_key(cell.evaluated)).st_mtime_ns
    except FileNotFoundError:  # nothing staged (or a zero-shot cell): evaluated from the checkpoint
        return False
    return _adopts(cell.key, stamp)


@lru_cache(maxsize=None)
def _adopts(key, stamp):
    from xstilts.stages.evaluate import adopts

    return adopts(CFG, CFG.cell(*key))


def unless_adopting(key, value):
    """An evaluate resource: ``value`` (a constant, or a function of the job's model), or
    ``ADOPT_RESOURCES[key]`` for a job that will only adopt."""
    return per_job(lambda wc: ADOPT_RESOURCES[key] if adopts(wc) else (value(wc) if callable(value) else value))


EVAL_RESOURCES = {key: unless_adopting(key, value) for key, value in GPU_RESOURCES.items()}


# Real mode: compute nodes may be offline. The local rule `prefetch` (submit host, network)
# snapshots every Hub model and dataset split into the HF cache first; jobs that read the Hub
# depend on its manifest and run with the Hub switched off (a miss fails naming what is missing).
OFFLINE = "" if CFG.is_toy else "HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 "


PREFETCH_MANIFEST = prefetch_manifest_path()


def prefetch_inputs(wildcards=None):
    """ancient(): refetching (e.g. after adding a task) must not rerun finished jobs."""
    return [] if CFG.is_toy else [ancient(PREFETCH_MANIFEST)]


# `xstilts`, or `torchrun --standalone --nproc_per_node N -m xstilts.cli` when nproc > 1
LAUNCH = shell_launcher("{resources.nproc}", console=XS)


# warm_start (src/xstilts/warm.py): in a local run, jobs fork from one helper that has imported
# torch and transformers.  Snakemake runs onstart in its main process, for real runs only.
WARM_HELPER = []


def stop_warm_helper():
    from xstilts import warm

    while WARM_HELPER:
        warm.stop(WARM_HELPER.pop())


onstart:
    if CFG.warm_start and workflow.local_exec:
        from xstilts import warm

        WARM_HELPER.append(warm.start(CFG.runtime.threads, P.warm_log()))


onsuccess:
    stop_warm_helper()


onerror:
    stop_warm_helper()

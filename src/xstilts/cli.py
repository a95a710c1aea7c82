"""``xstilts <stage> ...``: one subcommand per workflow stage.

Every stage can be run by hand for one cell; output paths default to the path contract
(``xstilts.core.paths``), so ``xstilts target --model tiny-2x64 --inter mnli --target xnli --seed 1``
writes exactly what Snakemake would.  The config defaults to ``$XSTILTS_CONFIG`` (set by the
Snakefile to the merged, validated config) or ``config/config.yaml``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from xstilts.core import paths

STAGES: dict[str, tuple[str, callable]] = {}


def stage(name: str, help: str):
    def deco(fn):
        STAGES[name] = (help, fn)
        return fn
    return deco


def _config(args):
    from xstilts.core.config import load

    return load(args.config)


def _threads(cfg, device) -> None:
    import torch

    if device.type == "cpu":
        torch.set_num_threads(int(cfg.raw.get("threads", 1)))


def _log(msg: str) -> None:
    print(f"[xstilts {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _write_json(path: str, obj) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(obj, indent=2))


def _tokenizer_path(cfg, model: str) -> str:
    return paths.tokenizer_dir(cfg.tokenizer_of(model))


# ---------------------------------------------------------------------------- data stages
@stage("prefetch", "snapshot every Hub model and dataset split of the config into the HF cache")
def cmd_prefetch(args):
    from xstilts.stages import prefetch

    cfg = _config(args)
    plan = prefetch.plan(cfg)
    _log(f"prefetch plan: {len(plan.models)} model snapshots, {len(plan.datasets)} dataset splits"
         + (f", local mirrors for {', '.join(sorted(plan.local))}" if plan.local else "")
         + (" (toy benchmark: nothing to fetch)" if cfg.is_toy else ""))
    for task, hint in sorted(plan.needs_local.items()):
        _log(f"not fetched, {task} needs local data: {hint}")
    if args.dry_run:
        print(json.dumps(plan.to_json(), indent=2))
        return
    try:
        manifest = prefetch.fetch(plan, log=_log)
    except prefetch.PrefetchError as err:
        print(f"xstilts prefetch: {err}", file=sys.stderr)
        sys.exit(1)
    _log(f"prefetch manifest -> {prefetch.write_manifest(manifest, args.out)}")


@stage("toy-data", "generate the toy benchmark (twins in Hub schema + corpus)")
def cmd_toy_data(args):
    from xstilts import toy

    cfg = _config(args)
    manifest = toy.generate(args.out or paths.toy_root(), languages=["en", *cfg.toy_languages],
                            **cfg.toy)
    _log(f"toy benchmark written to {args.out or paths.toy_root()} "
         f"({len(manifest.get('files', []))} files)")


@stage("tokenizer", "train the toy tokenizer, or save a Hub tokenizer")
def cmd_tokenizer(args):
    cfg = _config(args)
    spec = cfg.raw["tokenizers"][args.name]
    out = args.out or paths.tokenizer_dir(args.name)
    if cfg.is_toy:
        from xstilts.stages.models import train_tokenizer

        files = [paths.toy_corpus(lang) for lang in ["en", *cfg.toy_languages]] + [paths.toy_lexicon()]
        tok = train_tokenizer(files, spec["train"]["vocab_size"], out)
    else:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(spec["hf_id"], revision=spec.get("revision"))
        tok.save_pretrained(out)
    _log(f"tokenizer {args.name}: {len(tok)} entries -> {out}")


@stage("prepare", "tokenize one task into the cache shared by a tokenizer")
def cmd_prepare(args):
    from xstilts.stages.data import prepare
    from xstilts.stages.models import load_tokenizer
    from xstilts.core.registry import get_task

    cfg = _config(args)
    task = get_task(args.task)
    parts = [] if task.zero_shot else ["train", "dev"]
    if "target" in task.roles and args.task in cfg.targets:
        parts += [f"test-{lang}" for lang in task.eval_languages(cfg.toy_languages)]
    phase = "target" if args.task in cfg.targets else "intermediate"
    hp = cfg.hparams(args.task, phase)
    tok = load_tokenizer(paths.tokenizer_dir(args.tokenizer))
    out = args.out or paths.data_dir(args.tokenizer, args.task)
    m = prepare(task, tok, out, parts, cfg.local_root(args.task), int(hp["max_length"]),
                int(hp["dev_size"]), seed=0, options=cfg.options(args.task, phase))
    _log(f"{args.task}: " + ", ".join(f"{p} {v['examples']}" for p, v in m["parts"].items()))


@stage("labels", "write a target's gold test labels in the XTREME submission layout")
def cmd_labels(args):
    from xstilts.stages.data import load_examples
    from xstilts.stages.evaluate import write_labels
    from xstilts.core.registry import get_task

    cfg = _config(args)
    task = get_task(args.target)
    by_lang = {lang: load_examples(task, f"test-{lang}", cfg.local_root(args.target))
               for lang in task.eval_languages(cfg.toy_languages)}
    out = args.out or paths.labels_dir()
    write_labels(task, by_lang, out)
    _log(f"labels of {args.target} ({len(by_lang)} languages) -> {out}")


@stage("baseline", "trivial non-neural baselines of a target (length+shared tokens, overlap)")
def cmd_baseline(args):
    from xstilts.stages.evaluate import evaluate_baselines
    from xstilts.core.registry import get_task

    cfg = _config(args)
    task = get_task(args.target)
    out = args.out or paths.baseline_eval(args.target)
    meta = {"benchmark": cfg.benchmark, "target": args.target, "seed": None}
    result = evaluate_baselines(task, cfg.local_root(args.target),
                                task.eval_languages(cfg.toy_languages), meta)
    _write_json(out, result)
    _log(f"baselines of {args.target}: " + ", ".join(
        f"{k} {v['average']:.3f}" for k, v in result["baselines"].items()) + f" -> {out}")


# ---------------------------------------------------------------------------- model stages
@stage("base", "the pretrained encoder: Hub snapshot (real) or toy MLM pretraining")
def cmd_base(args):
    from xstilts.stages.train import resolve_device

    cfg = _config(args)
    spec = cfg.model(args.model)
    out = args.out or paths.base_dir(args.model)
    device = resolve_device(cfg.raw.get("device", "auto"))
    _threads(cfg, device)
    if cfg.is_toy:
        from xstilts.stages.pretrain import toy_base

        cost = toy_base(spec["toy"], cfg.pretrain(args.model), cfg.toy, ["en", *cfg.toy_languages],
                        _tokenizer_path(cfg, args.model), _toy_corpus(cfg), out, device, log=_log)
        _log(f"{args.model}: MLM loss {cost['mlm_loss_first']:.2f} -> {cost['mlm_loss_last']:.2f} "
             f"({cost['source']}, {cost['wall_s']:.0f}s of pretraining)")
    else:
        from xstilts.stages.models import snapshot_base

        snapshot_base(spec["hf_id"], spec.get("revision"), out)
        _write_json(paths.checkpoint_done(out), {"phase": "download", "hf_id": spec["hf_id"],
                                                 "revision": spec.get("revision"), "steps": 0,
                                                 "flops": 0.0, "wall_s": 0.0, "device_hours": 0.0})
        _log(f"{args.model}: saved {spec['hf_id']} -> {out}")


def _toy_corpus(cfg) -> list[str]:
    return [paths.toy_corpus(lang) for lang in ["en", *cfg.toy_languages]]


@stage("toy-encoders", "pretrain the config's toy models from scratch and store them as the "
                       "shipped toy encoders (run `snakemake -c2 --until tokenizer` first)")
def cmd_toy_encoders(args):
    import shutil
    import tempfile

    from xstilts.stages.pretrain import encoder_key, ship, toy_base
    from xstilts.stages.train import resolve_device

    cfg = _config(args)
    if not cfg.is_toy:
        raise SystemExit("xstilts toy-encoders: only for toy configs (benchmark: toy)")
    device = resolve_device(cfg.raw.get("device", "auto"))
    _threads(cfg, device)
    languages = ["en", *cfg.toy_languages]
    for model in args.models or cfg.models:
        tok = _tokenizer_path(cfg, model)
        if not Path(tok, "tokenizer.json").exists():
            raise SystemExit(f"xstilts toy-encoders: {tok}/tokenizer.json is missing; build it "
                             f"first: snakemake -c2 {paths.tokenizer_file(cfg.tokenizer_of(model))}")
        spec, recipe = cfg.model(model)["toy"], cfg.pretrain(model)
        key, fields = encoder_key(toy=cfg.toy, languages=languages,
                                  tokenizer_file=str(Path(tok, "tokenizer.json")),
                                  architecture=spec, recipe=recipe)
        with tempfile.TemporaryDirectory() as tmp:
            toy_base(spec, recipe, cfg.toy, languages, tok, _toy_corpus(cfg), tmp, device,
                     use_shipped=False, log=_log)
            folder = ship(tmp, key, fields)
        _log(f"{model}: shipped as {folder}")
    if args.clean:
        _clean_encoder_store(cfg, languages)


def _clean_encoder_store(cfg, languages) -> None:
    """Remove shipped encoders that no model of the config would use."""
    import shutil

    from xstilts.stages.pretrain import encoder_key

    keep = set()
    for model in cfg.models:
        tok = Path(_tokenizer_path(cfg, model), "tokenizer.json")
        keep.add(encoder_key(toy=cfg.toy, languages=languages, tokenizer_file=str(tok),
                             architecture=cfg.model(model)["toy"], recipe=cfg.pretrain(model))[0])
    store = Path(paths.toy_encoder_store())
    for folder in sorted(store.iterdir()) if store.is_dir() else ():
        if folder.is_dir() and folder.name not in keep:
            shutil.rmtree(folder)
            _log(f"removed the stale shipped encoder {folder.name}")


def _task_data(cfg, model: str, task_name: str, phase: str, with_dev: bool = True):
    from xstilts.stages.data import read_features, task_with_labels
    from xstilts.core.registry import get_family, get_task
    from xstilts.stages.train import TaskData

    d = paths.data_dir(cfg.tokenizer_of(model), task_name)
    task = task_with_labels(get_task(task_name), d)  # an open label set is known from the data
    family = get_family(task.family)
    return TaskData(task, family, read_features(f"{d}/train.parquet"),
                    read_features(f"{d}/dev.parquet") if with_dev else [],
                    options=cfg.options(task_name, phase))


def _train(cfg, model_name: str, init_dir: str, task_names: list[str], phase: str, seed: int,
           out: str, random_init: bool, extra: dict):
    import hashlib

    from xstilts.stages import distributed
    from xstilts.stages.models import XstiltsModel, load_encoder, load_tokenizer
    from xstilts.stages.train import Preempted, clear_state, resolve_device, set_seed, train_phase

    device = resolve_device(cfg.raw.get("device", "auto"))
    _threads(cfg, device)
    tds = [_task_data(cfg, model_name, t, phase) for t in task_names]
    set_seed(seed)  # head initialisation independent of what ran before in this process
    model = XstiltsModel(load_encoder(init_dir, random_init=random_init, seed=seed))
    for td in tds:
        model.add_head(td.task, td.family)
    tok = load_tokenizer(_tokenizer_path(cfg, model_name))
    # multi-task: one step budget for the mixture (the first task's phase settings)
    hp = cfg.hparams(task_names[0], phase)
    mt = cfg.raw.get("multitask", {})
    # a saved state is reused only if it was trained from the same initial checkpoint
    init_cost = Path(paths.checkpoint_done(init_dir))
    key = f"{init_dir}|{random_init}|" + (hashlib.sha256(init_cost.read_bytes()).hexdigest()
                                           if init_cost.exists() else "")
    state = paths.state_dir(out)
    try:
        cost = train_phase(model, tds, hp, phase=phase, seed=seed, device=device,
                           dtype=cfg.raw.get("dtype", "float32"), pad_id=tok.pad_token_id,
                           sampling=mt.get("sampling", "proportional"),
                           temperature=float(mt.get("temperature", 2.0)), log=_log,
                           state_dir=state, resume_key=key)
    except Preempted as err:
        _log(str(err))
        distributed.teardown()
        sys.exit(err.exit_code)  # non-zero: SLURM requeues / Snakemake retries, then resumes
    if distributed.is_main_process():
        model.save(out, tokenizer=tok)
        cost.update({"model": model_name, "init": init_dir, "random_init": random_init,
                     "benchmark": cfg.benchmark, **extra})
        _write_json(paths.checkpoint_done(out), cost)
        clear_state(state)  # the checkpoint is complete: the resumable state is obsolete
        _log(f"{phase} {'+'.join(task_names)}: best dev {cost['best_dev']:.3f} at step "
             f"{cost['best_step']}/{cost['steps']} in {cost['wall_s']:.0f}s -> {out}")
    distributed.teardown()
    return cost


@stage("intermediate", "train the intermediate phase (one task or the multitask mixture)")
def cmd_intermediate(args):
    cfg = _config(args)
    out = args.out or paths.inter_dir(args.model, args.inter, args.seed)
    _train(cfg, args.model, paths.base_dir(args.model), cfg.inter_tasks(args.inter), "intermediate",
           args.seed, out, False, {"inter": args.inter})


@stage("target", "fine-tune on the English training set of a target task")
def cmd_target(args):
    cfg = _config(args)
    init = paths.ckpt_base_for_inter(args.model, args.inter, args.seed)
    out = args.out or paths.cell_model_dir(args.model, args.inter, args.target, args.seed)
    _train(cfg, args.model, init, [args.target], "target", args.seed, out,
           args.inter == paths.SCRATCH, {"inter": args.inter, "target": args.target})


@stage("evaluate", "zero-shot evaluation of a cell in every language of its target")
def cmd_evaluate(args):
    from xstilts.stages.evaluate import evaluate_cell
    from xstilts.stages.models import XstiltsModel, load_encoder, load_task_model, load_tokenizer
    from xstilts.core.registry import get_task
    from xstilts.stages.train import resolve_device

    cfg = _config(args)
    m, i, t, s = args.model, args.inter, args.target, args.seed
    task = get_task(t)
    device = resolve_device(cfg.raw.get("device", "auto"))
    _threads(cfg, device)
    if task.zero_shot:  # the intermediate checkpoint itself (scratch: a random init of the base)
        ckpt = args.ckpt or paths.ckpt_base_for_inter(m, i, s)
        model = XstiltsModel(load_encoder(ckpt, random_init=i == paths.SCRATCH, seed=int(s)))
    else:
        ckpt = args.ckpt or paths.cell_model_dir(m, i, t, s)
        model = load_task_model(ckpt, [task])
    tok = load_tokenizer(_tokenizer_path(cfg, m))
    langs = task.eval_languages(cfg.toy_languages)
    meta = {"benchmark": cfg.benchmark, "model": m, "inter": i, "target": t, "seed": s,
            "provenance": {"checkpoint": ckpt, "data": paths.data_dir(cfg.tokenizer_of(m), t),
                           "config": cfg.source}}
    options = cfg.options(t, "target", model=m)
    res = evaluate_cell(model, task, paths.data_dir(cfg.tokenizer_of(m), t), langs,
                        args.out or paths.cell_eval(m, i, t, s),
                        args.predictions or paths.cell_predictions(m, i, t, s), device=device,
                        dtype=cfg.raw.get("dtype", "float32"), batch_size=64,
                        pad_id=tok.pad_token_id, meta=meta, options=options)
    _log(f"{m}/{i}/{t}/s{s}: average {res['average']:.3f} "
         + " ".join(f"{lang}={v[task.metric]:.3f}" for lang, v in res["languages"].items()))


@stage("profile", "inference profile of a (model, target): latency, throughput, FLOPs, memory, trace")
def cmd_profile(args):
    from xstilts.stages.inference import profile_target

    cfg = _config(args)
    out = args.out or paths.inference_profile_dir(args.model, args.target)
    prof = profile_target(cfg, args.model, args.target, out)
    _log(f"{args.model}/{args.target}: p50 {prof['latency_ms']['p50']:.2f} ms, "
         f"{prof['throughput']['examples_per_s']:.0f} ex/s -> {out}")


@stage("cell-profile", "a cell's training cost (both phases) + link to its inference profile")
def cmd_cell_profile(args):
    from xstilts.stages.inference import cell_profile

    m, i, t, s = args.model, args.inter, args.target, args.seed
    prof = cell_profile(m, i, t, s)
    _write_json(args.out or paths.cell_profile(m, i, t, s), prof)


# ---------------------------------------------------------------------------- outputs
@stage("aggregate", "collect every cell's artifacts into parquet tables")
def cmd_aggregate(args):
    from xstilts.analysis.aggregate import aggregate_results

    cfg = _config(args)
    out = args.out or paths.tables_dir()
    cells = [paths.cell_eval(*cell) for cell in cfg.cells()]  # the grid, not stale cells
    aggregate_results(args.results or paths.RESULTS, out, cells=cells)
    _log(f"tables -> {out}")


@stage("plots", "efficiency-versus-accuracy figures from the parquet tables")
def cmd_plots(args):
    from xstilts.analysis.plots import make_figures

    cfg = _config(args)
    plots = cfg.raw.get("plots", {})
    made = make_figures(args.tables or paths.tables_dir(), args.out or paths.figures_dir(),
                        formats=tuple(plots.get("formats", ["png", "svg"])), options=plots,
                        targets=cfg.targets)
    _log(f"{len(made)} figure files -> {args.out or paths.figures_dir()}")


@stage("report", "the HTML report from tables and figures")
def cmd_report(args):
    from xstilts.analysis.report import make_report

    cfg = _config(args)
    make_report(args.tables or paths.tables_dir(), args.figures or paths.figures_dir(),
                args.out or paths.report_html(), targets=cfg.targets)
    _log(f"report -> {args.out or paths.report_html()}")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xstilts", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="stage", required=True, metavar="<stage>")
    default_cfg = os.environ.get("XSTILTS_CONFIG", "config/config.yaml")
    for name, (help_, _) in STAGES.items():
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.add_argument("--config", default=default_cfg, help=f"config file (default: {default_cfg})")
        sp.add_argument("--out", help="output path (default: the path contract)")
        if name in ("base", "intermediate", "target", "evaluate", "profile", "cell-profile"):
            sp.add_argument("--model", required=True)
        if name in ("intermediate", "target", "evaluate", "cell-profile"):
            sp.add_argument("--inter", required=True)
            sp.add_argument("--seed", type=int, required=True)
        if name in ("target", "evaluate", "profile", "cell-profile", "labels", "baseline"):
            sp.add_argument("--target", required=True)
        if name == "prefetch":
            sp.add_argument("--dry-run", action="store_true", help="print the plan, fetch nothing")
        if name == "toy-encoders":
            sp.add_argument("--models", nargs="*", help="models of the config (default: all)")
            sp.add_argument("--clean", action="store_true",
                            help="also remove shipped encoders that no model of the config uses")
        if name == "tokenizer":
            sp.add_argument("--name", required=True, help="tokenizer name from the config")
        if name == "prepare":
            sp.add_argument("--tokenizer", required=True)
            sp.add_argument("--task", required=True)
        if name == "evaluate":
            sp.add_argument("--ckpt", help="target checkpoint directory")
            sp.add_argument("--predictions", help="predictions directory")
        if name == "aggregate":
            sp.add_argument("--results", help="results root (default: results)")
        if name in ("plots", "report"):
            sp.add_argument("--tables")
        if name == "report":
            sp.add_argument("--figures")
    sc = sub.add_parser("score", help="score predictions in the XTREME submission layout",
                        add_help=False)
    sc.set_defaults(score=True)
    return p


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "score":
        from xstilts.analysis.score import main as score_main

        return score_main(argv[1:])
    args = _parser().parse_args(argv)
    from xstilts.core.config import ConfigError

    try:
        STAGES[args.stage][1](args)
    except ConfigError as err:
        print(f"xstilts: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

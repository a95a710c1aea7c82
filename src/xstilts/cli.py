"""``xstilts <stage> ...``: one subcommand per workflow stage.

Every stage can be run by hand for one cell; output paths default to the path contract
(``xstilts.core.paths``), so ``xstilts target --model tiny-2x64 --inter mnli --target xnli --seed 1``
writes exactly what Snakemake would.  The config defaults to ``$XSTILTS_CONFIG`` (set by the
Snakefile to the merged, validated config) or ``config/config.yaml``.

The CLI is a table: each stage names the module whose ``run(cfg, ...)`` does the work and the
arguments it takes; the argument parser is generated from it.  ``--model/--inter/--target/--seed``
together are passed as one resolved :class:`~xstilts.core.cell.Cell` (argument ``cell``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from dataclasses import dataclass

from xstilts.core import paths

# every argument a stage may declare: name -> argparse options
ARGS: dict[str, dict] = {
    "model": dict(required=True),
    "inter": dict(required=True),
    "target": dict(required=True),
    "seed": dict(type=int, required=True),
    "name": dict(required=True, help="tokenizer name from the config"),
    "tokenizer": dict(required=True),
    "task": dict(required=True),
    "dry_run": dict(action="store_true", help="print the plan, fetch nothing"),
    "ckpt": dict(help="target checkpoint directory"),
    "predictions": dict(help="predictions directory"),
    "results": dict(help="results root (default: results)"),
    "tables": dict(),
    "figures": dict(),
    "models": dict(nargs="*", help="models of the config (default: all)"),
    "clean": dict(action="store_true", help="also remove shipped encoders that no model of the config uses"),
}
CELL = ("model", "inter", "target", "seed")  # declared as "cell": passed as one Cell
# what an argument names, checked against the config before the stage runs (Config.require)
NAMES = {"model": "model", "models": "model", "name": "tokenizer", "tokenizer": "tokenizer",
         "task": "task", "target": "task"}


@dataclass(frozen=True)
class Stage:
    help: str
    module: str  # its ``run(cfg, out=..., **args)`` is the stage
    args: tuple[str, ...] = ()
    # False: it imports none of torch, transformers, pandas, matplotlib, so it starts as fast by
    # itself as in a fork of the warm-start helper (xstilts.warm), which it therefore never asks
    warm: bool = True


STAGES: dict[str, Stage] = {
    "prefetch": Stage("snapshot every Hub model and dataset split of the config into the HF cache",
                      "xstilts.stages.prefetch", ("dry_run",)),
    "data-check": Stage("list, for every task and language the grid needs, whether the mirror or the HF "
                        "cache has it and what to fetch or provide (also `xstilts data check`)",
                        "xstilts.stages.data_check"),
    "toy-data": Stage("generate the toy benchmark (twins in Hub schema + corpus)", "xstilts.stages.toy_data",
                      warm=False),
    "tokenizer": Stage("train the toy tokenizer, or save a Hub tokenizer", "xstilts.stages.tokenizer", ("name",)),
    "prepare": Stage("tokenize one task into the cache shared by a tokenizer", "xstilts.stages.data",
                     ("tokenizer", "task")),
    "mlm-corpus": Stage("tokenize the multilingual corpus of the +mlm intermediates (toy corpus, or mlm.corpus)",
                        "xstilts.stages.mlm_corpus", ("tokenizer",)),
    "translate-data": Stage("tokenize the translations of an intermediate task's training set (+translate)",
                            "xstilts.stages.translate", ("tokenizer", "task")),
    "labels": Stage("write a target's gold test labels in the XTREME submission layout",
                    "xstilts.stages.labels", ("target",), warm=False),
    "baseline": Stage("trivial non-neural baselines of a target (length+shared tokens, overlap)",
                      "xstilts.stages.baseline", ("target",), warm=False),
    "base": Stage("the pretrained encoder: Hub snapshot (real) or toy MLM pretraining", "xstilts.stages.base",
                  ("model",)),
    "toy-encoders": Stage("pretrain the config's toy models from scratch and store them as the shipped toy "
                          "encoders (needs the toy tokenizer: `make toy-encoders` builds it first)",
                          "xstilts.stages.toy_encoders", ("models", "clean")),
    "intermediate": Stage("train the intermediate phase (one task or the multitask mixture)",
                          "xstilts.stages.train", ("model", "inter", "seed")),
    "target": Stage("fine-tune on the English training set of a target task", "xstilts.stages.train", ("cell",)),
    "evaluate": Stage("zero-shot evaluation of a cell in every language of its target, and the cell's "
                      "training cost (profile.json beside eval.json; not with another --ckpt)",
                      "xstilts.stages.evaluate", ("cell", "ckpt", "predictions")),
    "profile": Stage("inference profile of a (model, target): latency, throughput, FLOPs, memory, trace",
                     "xstilts.stages.inference", ("model", "target")),
    "aggregate": Stage("collect every cell's artifacts into parquet tables", "xstilts.analysis.aggregate",
                       ("results",), warm=False),
    "gains": Stage("gains, score intervals, cost-effectiveness: the paired bootstrap over the predictions",
                   "xstilts.analysis.gains", ("tables",)),
    "plots": Stage("efficiency-versus-accuracy figures from the parquet tables", "xstilts.analysis.plots",
                   ("tables",)),
    "report": Stage("the HTML report from tables and figures", "xstilts.analysis.report", ("tables", "figures")),
}


def _names(stage: Stage) -> list[str]:
    return [a for name in stage.args for a in (CELL if name == "cell" else (name,))]


def _parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every stage, or of the stage ``only`` alone (what a job parses: argparse
    takes about 10 ms to build the twenty subparsers)."""
    p = argparse.ArgumentParser(prog="xstilts", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="stage", required=True, metavar="<stage>")
    default_cfg = os.environ.get("XSTILTS_CONFIG", paths.CONFIG_FILE)
    for name, stage in STAGES.items():
        if only is not None and name != only:
            continue
        sp = sub.add_parser(name, help=stage.help, description=stage.help)
        sp.add_argument("--config", default=default_cfg, help=f"config file (default: {default_cfg})")
        sp.add_argument("--out", help="output path (default: the path contract)")
        for arg in _names(stage):
            sp.add_argument("--" + arg.replace("_", "-"), **ARGS[arg])
    sub.add_parser("score", help="score predictions in the XTREME submission layout", add_help=False)
    return p


def run_stage(name: str, args: argparse.Namespace) -> None:
    from xstilts.core.config import load

    stage = STAGES[name]
    cfg = load(args.config)
    kwargs = {"out": args.out}
    for arg in stage.args:
        if arg == "cell":
            kwargs["cell"] = cfg.cell(args.model, args.inter, args.target, args.seed)
            continue
        value = kwargs[arg] = getattr(args, arg)
        if arg in NAMES and value is not None:  # --models unset: every model
            for given in value if isinstance(value, list) else [value]:
                cfg.require(NAMES[arg], given)
    importlib.import_module(stage.module).run(cfg, **kwargs)


def main(argv=None) -> int:
    if argv is None:  # the `xstilts` command: in a fork of the warm-start helper when one serves this run
        stage = STAGES.get(sys.argv[1] if len(sys.argv) > 1 else "")
        if stage is None or stage.warm:
            from xstilts import warm

            status = warm.client(sys.argv[1:])
            if status is not None:
                return status
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["data", "check"]:  # `xstilts data check` is the stage data-check
        argv = ["data-check", *argv[2:]]
    if argv and argv[0] == "score":
        from xstilts.analysis.score import main as score_main

        return score_main(argv[1:])
    args = _parser(argv[0] if argv and argv[0] in STAGES else None).parse_args(argv)
    from xstilts.core.errors import InputError

    try:
        run_stage(args.stage, args)
    except InputError as err:  # bad config or data: one message naming the key or file
        print(f"xstilts: {err}", file=sys.stderr)
        return 2
    except RuntimeError as err:
        if type(err).__name__ != "ModelMissingError":  # user input (cache state), not a bug
            raise
        print(f"xstilts {args.stage}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

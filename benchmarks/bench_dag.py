"""Benchmark: DAG construction of the real grid vs Snakemake's own floor.

``snakemake -n --configfile config/paper.yaml`` (about 2,420 jobs; empty stand-ins for the local
sources: the tasks without a Hub copy, the MLM corpus, the translate-train folders) against a dry run of a generated Snakefile with the same number of trivial jobs (one rule, one output file each, plus
``all``), interleaved in rounds.  The job count is read from the real dry run's job stats.

    python benchmarks/bench_dag.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import harness as H

SNAKEMAKE = str(H.BIN / "snakemake")


def dry_run(args: list[str], cwd) -> tuple[float, str]:
    env = {**os.environ, "PATH": f"{H.BIN}{os.pathsep}{os.environ['PATH']}"}
    t0 = time.perf_counter()
    proc = subprocess.run([SNAKEMAKE, "-n", "--cores", "1", *args], cwd=cwd, env=env,
                          capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"snakemake -n {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return dt, proc.stdout + proc.stderr


def total_jobs(out: str) -> int:
    m = re.search(r"^total\s+(\d+)$", out, flags=re.M)
    if not m:
        raise RuntimeError(f"no job stats in the dry run's output:\n{out[-2000:]}")
    return int(m.group(1))


def with_stub_mirrors(configfile: Path, folder: Path) -> Path:
    """The config with an empty stand-in for every local source it names (in ``folder``): a
    mirror for every task that has no Hub copy (CCGbank, Mewsli-X), the continued-MLM corpus
    (``mlm.corpus``) and the translate-train folders (``translate.sources``); with
    ``data.on_missing_data: fail`` a dry run stops without them.  The dry run only checks that
    the files exist; no job reads them."""
    import yaml

    from xstilts.core.config import validate
    from xstilts.core.registry import get_task
    from xstilts.stages.data import expand_configs, source_parts
    from xstilts.stages.prefetch import task_sources

    raw = yaml.safe_load(configfile.read_text())
    cfg = validate(raw, str(configfile))
    for name in cfg.data_tasks():
        parts = task_sources(name, cfg.eval_languages(name) if name in cfg.targets else None)
        if cfg.local_root(name) or not any(whole.local_only for _, whole in parts):
            continue
        root = folder / "mirrors" / name
        for _, whole in parts:
            for src, _ in source_parts(expand_configs(get_task(name), whole, None)):
                f = root / src.repo / (src.config or "default") / f"{src.split}.jsonl"
                f.parent.mkdir(parents=True, exist_ok=True)
                f.touch()
        raw.setdefault("data", {}).setdefault("tasks", {})[name] = str(root)
    if "mlm" in raw:  # one text file per language of the corpus
        corpus = folder / "mlm-corpus"
        corpus.mkdir(parents=True, exist_ok=True)
        (corpus / "en.txt").touch()
        raw["mlm"]["corpus"] = str(corpus)
    for task in (raw.get("translate") or {}).get("sources") or {}:
        source = folder / "translate-train" / task
        source.mkdir(parents=True, exist_ok=True)
        (source / "train.jsonl").touch()
        raw["translate"]["sources"][task] = str(source)
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / configfile.name
    out.write_text(yaml.safe_dump(raw, sort_keys=False))
    return out


def trivial_snakefile(folder: Path, n: int) -> Path:
    """``n`` jobs: ``all`` plus ``n - 1`` instances of one rule, each writing one file."""
    f = folder / "Snakefile"
    f.write_text(f"N = {n - 1}\n\n"
                 "rule all:\n    input: expand('out/{i}.txt', i=range(N))\n\n"
                 "rule make:\n    output: 'out/{i}.txt'\n    shell: 'touch {output}'\n")
    return f


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--configfile", default="config/paper.yaml")
    args = ap.parse_args()
    H.compile_package()  # the Snakefile imports the package
    with tempfile.TemporaryDirectory() as tmp:
        # the real grid's dry run in an empty working directory (nothing is built: every job is planned)
        configfile = with_stub_mirrors(H.ROOT / args.configfile, Path(tmp) / "config")
        work = Path(tmp) / "work"
        work.mkdir()
        real = ["--snakefile", str(H.ROOT / "Snakefile"), "--configfile", str(configfile),
                "--directory", str(work)]
        _, out = dry_run(real, H.ROOT)
        n = total_jobs(out)
        floor_dir = Path(tmp) / "floor"
        floor_dir.mkdir()
        trivial = ["--snakefile", str(trivial_snakefile(floor_dir, n)), "--directory", str(floor_dir)]
        m = total_jobs(dry_run(trivial, floor_dir)[1])
        assert m == n, (m, n)
        times = H.interleave({"paper.yaml": lambda: dry_run(real, H.ROOT),
                              "trivial": lambda: dry_run(trivial, floor_dir)}, args.rounds, warmup=0)
    print(f"bench_dag: snakemake -n of {args.configfile} vs a trivial Snakefile, both {n} jobs, "
          f"{args.rounds} interleaved rounds")
    for name, ts in times.items():
        print(H.describe(name, ts))
    r = H.ratio(times["paper.yaml"], times["trivial"])
    med = statistics.median(times["paper.yaml"])
    print(f"  absolute: {med:.2f} s (goal < 5 s)")
    print(H.ratio_line("bench_dag", r, "paper.yaml dry-run time over the trivial Snakefile's, medians; "
                       "goal <= 1.5"))


if __name__ == "__main__":
    main()

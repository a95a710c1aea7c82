"""Snakemake + SLURM: the cluster profiles, and real runs on a local SLURM cluster.

The `slurm`-marked tests start a real single-node cluster (munge, slurmctld, slurmd, two fake
GPUs, no accounting) with tests/slurm/cluster.sh, submit every rule as a real `sbatch` job
through profiles/slurm-test, and stop the cluster at the end of the session.

* Needs root (or password-less sudo) and apt (Debian/Ubuntu). Otherwise the tests are skipped
  with the reason, except when CI=true: then they fail, so CI cannot silently skip them.
* `XSTILTS_SLURM_KEEP=1` leaves the cluster running after the session (faster reruns).
* Deselect with `pytest -m "not slurm"`.

Adding the real workflow test (next to test_gpu_rules_run_as_slurm_jobs): run the toy grid once
locally (`snakemake --cores 2 ...`) and once with
`run_snakemake_on_slurm(workdir, targets, ["--snakefile", str(REPO / "Snakefile"), ...])`,
then compare the result files and check `slurm_job_info(job_ids)`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CLUSTER_SH = REPO / "tests" / "slurm" / "cluster.sh"
PROFILE = REPO / "profiles" / "slurm"
TEST_PROFILE = REPO / "profiles" / "slurm-test"

# exit codes of cluster.sh meaning "this machine cannot host the test cluster"
EX_NOPRIV, EX_UNSUPPORTED = 77, 78

# keys in which profiles/slurm-test may differ from profiles/slurm, or that only it has
TEST_OVERRIDES = {
    "jobs",
    "latency-wait",
    "default-resources",
    "slurm-status-command",
    "slurm-init-seconds-before-status-checks",
    "slurm-keep-successful-logs",
    "slurm-logdir",
    "max-threads",
}

SUBMITTED_RE = re.compile(r"has been submitted with SLURM jobid (\d+)")


# --------------------------------------------------------------------------- helpers
def run_bounded(cmd, *, timeout_s: float, log: Path | None = None, **kwargs):
    """Run cmd with a hard wall-clock bound: on timeout its whole process group is killed.

    Output goes to `log` when given (daemons started by the command cannot then hold a pipe
    open), else it is captured. Returns a CompletedProcess; rc 124 means timed out.
    """
    out = open(log, "w") if log is not None else subprocess.PIPE
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            **kwargs,
        )
        try:
            stdout, _ = proc.communicate(timeout=timeout_s)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, _ = proc.communicate(timeout=30)
            rc = 124
    finally:
        if log is not None:
            out.close()
    if log is not None:
        stdout = log.read_text(errors="replace")
    return subprocess.CompletedProcess(cmd, rc, stdout or "", "")


def cluster(action: str, log: Path, timeout_s: float = 600) -> subprocess.CompletedProcess:
    return run_bounded(["bash", str(CLUSTER_SH), action], timeout_s=timeout_s, log=log)


def snakemake_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("snakemake")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("snakemake")
    return [found] if found else [sys.executable, "-m", "snakemake"]


def snakemake_env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    # this Python's bin first: jobs inside SLURM (--export=ALL) find the same snakemake/xstilts
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    # site settings of a real cluster must not leak into the local test cluster
    for key in ("XSTILTS_PARTITION", "XSTILTS_ACCOUNT", "SNAKEMAKE_PROFILE"):
        env.pop(key, None)
    env.update(extra or {})
    return env


def run_snakemake_on_slurm(
    workdir: Path,
    targets=(),
    extra_args=(),
    *,
    profile: Path = TEST_PROFILE,
    timeout_s: int = 600,
    env: dict | None = None,
) -> tuple[subprocess.CompletedProcess, list[str]]:
    """`timeout -k 30 <timeout_s> snakemake --profile <profile> ...` in workdir.

    Returns the finished process (stdout = snakemake's combined output, also written to
    workdir/snakemake-slurm.log) and the SLURM job ids it submitted, in submission order.
    """
    workdir = Path(workdir)
    cmd = [
        "timeout", "-k", "30", str(timeout_s),
        *snakemake_cmd(),
        "--profile", str(profile),
        "--directory", str(workdir),
        *map(str, extra_args),
        *map(str, targets),
    ]
    proc = run_bounded(
        cmd,
        timeout_s=timeout_s + 60,
        log=workdir / "snakemake-slurm.log",
        cwd=workdir,
        env=snakemake_env(env),
    )
    job_ids = list(dict.fromkeys(SUBMITTED_RE.findall(proc.stdout)))
    return proc, job_ids


def slurm_job_info(job_ids) -> dict[str, dict[str, str]]:
    """{job id: {"state", "comment", "tres", "time"}} from `squeue --states=all` (no accounting here;
    finished jobs stay visible for MinJobAge=300 s) and `scontrol show job`."""
    ids = ",".join(job_ids)
    proc = run_bounded(
        ["squeue", "--states=all", "--noheader", "--format=%i|%T|%k", f"--jobs={ids}"],
        timeout_s=30,
    )
    assert proc.returncode == 0, proc.stdout
    info = {}
    for line in proc.stdout.splitlines():
        if line.count("|") == 2:
            jid, state, comment = line.strip().split("|")
            info[jid] = {"state": state, "comment": comment}
    for jid in info:
        show = run_bounded(["scontrol", "-o", "show", "job", jid], timeout_s=30).stdout
        m = re.search(r"\bTresPerJob=(\S+)", show)
        info[jid]["tres"] = m.group(1) if m else ""
        m = re.search(r"\bTimeLimit=(\S+)", show)
        info[jid]["time"] = m.group(1) if m else ""
    return info


def tail(text: str, n: int = 60) -> str:
    return "\n".join(text.splitlines()[-n:])


def load_profile(profile_dir: Path, env: dict | None = None) -> dict:
    """The profile as Snakemake sees it (yte template evaluated under `env`)."""
    import yte

    saved = dict(os.environ)
    try:
        for key in ("XSTILTS_PARTITION", "XSTILTS_ACCOUNT", "XSTILTS_SLURM_CPUS"):
            os.environ.pop(key, None)
        os.environ.update(env or {})
        with open(profile_dir / "config.yaml") as fh:
            return yte.process_yaml(fh, require_use_yte=True)
    finally:
        os.environ.clear()
        os.environ.update(saved)


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """A running local SLURM cluster (started here, stopped at the end of the session)."""
    logdir = tmp_path_factory.mktemp("slurm-cluster")
    t0 = time.monotonic()
    start = cluster("start", logdir / "start.log", timeout_s=900)
    start_s = time.monotonic() - t0
    if start.returncode != 0:
        why = {
            EX_NOPRIV: "no root privileges",
            EX_UNSUPPORTED: "unsupported system",
            124: "timed out",
        }.get(start.returncode, f"exit code {start.returncode}")
        reason = f"local SLURM cluster did not start ({why}):\n{tail(start.stdout, 30)}"
        cluster("stop", logdir / "stop.log", timeout_s=120)
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true, so this is an error: {reason}", pytrace=False)
        pytest.skip(reason)
    print(f"\n[slurm] cluster start took {start_s:.1f} s\n{tail(start.stdout, 5)}")
    yield {"start_s": start_s, "log": start.stdout}
    if os.environ.get("XSTILTS_SLURM_KEEP") != "1":
        stop = cluster("stop", logdir / "stop.log", timeout_s=120)
        print(f"\n[slurm] cluster stop rc={stop.returncode}\n{tail(stop.stdout, 5)}")


# --------------------------------------------------------------------------- profile tests
def test_test_profile_is_derived_from_cluster_profile():
    real, test = load_profile(PROFILE), load_profile(TEST_PROFILE)
    assert real["executor"] == test["executor"] == "slurm"
    missing = set(real) - set(test)
    assert not missing, f"profiles/slurm-test lacks keys of profiles/slurm: {missing}"
    differing = {k for k in real if real[k] != test[k]} | (set(test) - set(real))
    assert differing <= TEST_OVERRIDES, f"undeclared differences: {differing - TEST_OVERRIDES}"
    # the settings without which a run on the accounting-free test cluster hangs or crawls
    assert test["slurm-status-command"] == "squeue"
    assert test["slurm-init-seconds-before-status-checks"] <= 100  # MinJobAge 300 >= 3 x this
    # same resource names in both; only the values may be smaller in the test profile
    assert set(real["default-resources"]) == set(test["default-resources"])


def test_cluster_profile_reads_partition_and_account_from_environment():
    bare = load_profile(PROFILE)["default-resources"]
    assert "slurm_partition" not in bare and "slurm_account" not in bare
    site = load_profile(PROFILE, {"XSTILTS_PARTITION": "gpu", "XSTILTS_ACCOUNT": "0042"})
    # quoted, so that Snakemake evaluates them to strings (account "0042" stays "0042")
    assert site["default-resources"]["slurm_partition"] == "'gpu'"
    assert site["default-resources"]["slurm_account"] == "'0042'"
    assert site["slurm-requeue"] is True and site["retries"] == 2
    assert "gpu" not in site["default-resources"]  # GPUs come from the rules


def test_profile_resolves_from_repo_root(tmp_path):
    """The documented command `snakemake --profile slurm`, run from the repository root."""
    (tmp_path / "Snakefile").write_text(
        textwrap.dedent(
            """
            rule train:
                output: "out.txt"
                resources: gpu=1, runtime=90
                shell: "touch {output}"
            """
        )
    )
    assert (REPO / "slurm" / "config.yaml").resolve() == (PROFILE / "config.yaml").resolve()
    proc = run_bounded(
        [*snakemake_cmd(), "--profile", "slurm", "--snakefile", str(tmp_path / "Snakefile"),
         "--directory", str(tmp_path), "--dry-run"],
        timeout_s=120,
        cwd=REPO,
        env=snakemake_env({"XSTILTS_PARTITION": "gpu", "XSTILTS_ACCOUNT": "0042"}),
    )
    assert proc.returncode == 0, tail(proc.stdout)
    resources = re.search(r"resources: (.*)", proc.stdout).group(1)
    for item in ("slurm_partition=gpu", "slurm_account=0042", "mem_mb=4000", "runtime=90",
                 "gpu=1"):
        assert item in resources.split(", "), resources


# --------------------------------------------------------------------------- cluster tests
TINY_SNAKEFILE = """
rule all:
    input: "results/summary.txt"

rule gpu_task:
    output: "results/gpu/{i}.txt"
    resources: gpu=1, mem_mb=500, runtime=5
    shell:
        'echo "job=$SLURM_JOB_ID cuda=${{CUDA_VISIBLE_DEVICES:-unset}}" > {output}'

rule aggregate:
    input: expand("results/gpu/{i}.txt", i=[1, 2])
    output: "results/summary.txt"
    shell:
        'cat {input} > {output} && echo "aggregate job=$SLURM_JOB_ID" >> {output}'
"""


@pytest.mark.slurm
def test_gpu_rules_run_as_slurm_jobs(slurm_cluster, tmp_path):
    (tmp_path / "Snakefile").write_text(TINY_SNAKEFILE)
    t0 = time.monotonic()
    proc, job_ids = run_snakemake_on_slurm(tmp_path)
    wall = time.monotonic() - t0
    print(f"\n[slurm] snakemake wall {wall:.1f} s, SLURM jobs {job_ids}")
    assert proc.returncode == 0, tail(proc.stdout)
    assert len(job_ids) == 3, tail(proc.stdout)  # 2 x gpu_task + aggregate; `all` runs nowhere

    # each rule ran inside its own SLURM job, with a GPU allocated by SLURM
    fake_gpus_are_devices = Path("/var/lib/slurm/xstilts-fakegpu/nvidia0").is_char_device()
    gpu_jobs = []
    for i in (1, 2):
        m = re.fullmatch(r"job=(\d+) cuda=(\S+)\n", (tmp_path / f"results/gpu/{i}.txt").read_text())
        assert m, (tmp_path / f"results/gpu/{i}.txt").read_text()
        assert m.group(1) in job_ids
        if fake_gpus_are_devices:
            assert m.group(2) in {"0", "1"}  # SLURM's gres plugin set CUDA_VISIBLE_DEVICES
        gpu_jobs.append(m.group(1))
    summary = (tmp_path / "results/summary.txt").read_text().splitlines()
    agg_job = re.fullmatch(r"aggregate job=(\d+)", summary[-1]).group(1)
    assert sorted([*gpu_jobs, agg_job]) == sorted(job_ids)

    # the plugin's log of every job exists (kept by slurm-keep-successful-logs, under slurm-logdir)
    for jid in job_ids:
        assert list((tmp_path / "logs/slurm").rglob(f"{jid}.log")), jid

    # SLURM itself knows the jobs: completed, labelled with the rule, GPUs only where requested
    info = slurm_job_info(job_ids)
    assert set(info) == set(job_ids), info
    assert {v["state"] for v in info.values()} == {"COMPLETED"}, info
    for jid in gpu_jobs:
        assert info[jid]["comment"].startswith("rule_gpu_task"), info
        assert "gpu" in info[jid]["tres"], info
    assert info[agg_job]["comment"].startswith("rule_aggregate"), info
    assert "gpu" not in info[agg_job]["tres"], info


# rules that run as SLURM jobs (everything else is a localrule on the submit host); the model
# rules take the model's resources (GPUs), the tokenizer-level ones do not
MODEL_RULES = {"base", "intermediate", "target", "evaluate", "profile"}
SUBMITTED_RULES = MODEL_RULES | {"tokenizer", "prepare"}


@pytest.mark.slurm
def test_toy_grid_on_slurm_equals_local_run(slurm_cluster, tmp_path):
    """The real workflow through profiles/slurm-test: every model rule is a SLURM job that gets
    a (fake) GPU, and the results equal a local run's."""
    config = REPO / "tests" / "configs" / "slurm.yaml"
    common = ["--snakefile", str(REPO / "Snakefile"), "--configfile", str(config)]
    local, remote = tmp_path / "local", tmp_path / "slurm"
    local.mkdir()
    remote.mkdir()
    t0 = time.monotonic()
    proc = run_bounded([*snakemake_cmd(), *common, "--cores", "2", "--directory", str(local)],
                       timeout_s=900, env=snakemake_env(), cwd=local)
    assert proc.returncode == 0, tail(proc.stdout)
    local_s = time.monotonic() - t0
    t0 = time.monotonic()
    proc, job_ids = run_snakemake_on_slurm(remote, extra_args=common, timeout_s=900)
    slurm_s = time.monotonic() - t0
    print(f"\n[slurm] toy grid: local {local_s:.0f} s, SLURM {slurm_s:.0f} s, {len(job_ids)} SLURM jobs")
    assert proc.returncode == 0, tail(proc.stdout)

    info = slurm_job_info(job_ids)
    assert {v["state"] for v in info.values()} == {"COMPLETED"}, info
    rule_of = {jid: v["comment"].removeprefix("rule_").split("_wildcards")[0] for jid, v in info.items()}
    assert set(rule_of.values()) == SUBMITTED_RULES, rule_of
    # 1 tokenizer, 2 prepare (mnli, xnli), 1 base, 1 intermediate, 2 target, 2 evaluate, 1 profile
    assert len(job_ids) == 10, rule_of
    for jid, v in info.items():
        # the config's gpus: 1 reached sbatch for model rules, and only for them; an evaluate
        # job that only adopts its target job's staged evaluation asks for a CPU slot and
        # 10 minutes (common.smk ADOPT_RESOURCES), as both of this grid's do
        gets_gpu = rule_of[jid] in MODEL_RULES - {"evaluate"}
        assert ("gpu" in v["tres"]) == gets_gpu, (jid, rule_of[jid], v)
        if rule_of[jid] == "evaluate":
            assert v["time"] == "00:10:00", (jid, v)
        assert list((remote / "logs/slurm").rglob(f"{jid}.log")), jid
    for inter in ("none", "mnli"):
        assert "adopted the evaluation" in (remote / f"results/logs/evaluate/nano-1x32/{inter}/xnli/s1.log").read_text()

    for inter in ("none", "mnli"):
        rel = f"results/cells/nano-1x32/{inter}/xnli/s1/eval.json"
        a = json.loads((local / rel).read_text())
        b = json.loads((remote / rel).read_text())
        assert a["languages"] == b["languages"], (inter, a["languages"], b["languages"])
    assert (remote / "reports/report.html").exists()

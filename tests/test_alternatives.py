"""The paper's alternatives to plain intermediate training (issue 14): ``<task>+mlm`` (continued
multilingual MLM mixed into intermediate training) and ``<task>+translate`` (the intermediate
data plus its translations), on the planted-control pair ``objclass_tags`` -> ``objclass``.

Real tiny training through a real Snakemake run of ``tests/configs/alternatives.yaml``; no mocks.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ALT = ROOT / "tests" / "configs" / "alternatives.yaml"
MODEL = "nano-1x32"
PLAIN, MLM, TRANSLATE = "objclass_tags", "objclass_tags+mlm", "objclass_tags+translate"


def raw_config() -> dict:
    return yaml.safe_load(ALT.read_text())


# ------------------------------------------------------------------ config and Inter (no training)
def test_inter_parses_the_variants():
    from xstilts.core.cell import Inter

    plain, mlm, tr = Inter.named("mnli"), Inter.named("mnli+mlm"), Inter.named("mnli+translate")
    assert (plain.variant, plain.is_variant, plain.mlm, plain.translate) == ("plain", False, False, False)
    assert mlm.tasks == ("mnli",) and mlm.mlm and not mlm.translate and mlm.base == "mnli" and mlm.trains
    assert tr.tasks == ("mnli",) and tr.translate and tr.base == "mnli" and tr.label == "mnli +translate"
    mix = Inter.named("multitask+mlm", ("mnli", "ccg"))
    assert mix.is_mixture and mix.mlm and mix.tasks == ("mnli", "ccg")
    # paths and the cell parser keep the full name
    from xstilts.core import paths
    from xstilts.core.cell import Cell

    cell = Cell.from_path(paths.cell_eval(MODEL, "mnli+mlm", "xnli", 1))
    assert cell.inter == mlm and cell.inter_dir == paths.inter_dir(MODEL, "mnli+mlm", 1)


@pytest.mark.parametrize("name, words", [
    ("foo+mlm", ["intermediate[4]", "unknown task 'foo'"]),
    ("mnli+bogus", ["intermediate[4]", "unknown variant 'bogus'"]),
    ("none+mlm", ["intermediate[4]", "trains no intermediate task"]),
    ("multitask+translate", ["intermediate[4]", "no +translate variant"]),
    ("ccg+translate", ["intermediate[4]", "no translations of 'ccg'"]),
    ("mnli++mlm", ["intermediate.4"]),
])
def test_bad_variants_are_one_line_input_errors(name, words):
    from xstilts.core.config import validate
    from xstilts.core.errors import InputError

    raw = raw_config()
    raw["intermediate"] = [*raw["intermediate"], name]
    raw["multitask"] = {"tasks": ["mnli", "ccg"]}
    with pytest.raises(InputError) as err:
        validate(raw, "c.yaml")
    msg = str(err.value)
    assert all(w in msg for w in words), msg
    if name != "mnli++mlm":  # the schema's pattern error lists its key on one line below a header
        assert "\n" not in msg


def test_variant_options_have_schema_defaults_and_are_params_of_the_variant_only():
    from xstilts.core.config import validate

    raw = raw_config()
    raw.pop("mlm"), raw.pop("translate")
    cfg = validate(raw)
    assert cfg.continued_mlm["ratio"] == 1.0 and cfg.continued_mlm["probability"] == 0.15
    assert cfg.translate["noise"] == 0.0
    assert cfg.variant_settings(PLAIN) is None and cfg.variant_settings("none") is None
    assert cfg.variant_settings(MLM) == {"mlm": cfg.continued_mlm}
    assert cfg.variant_settings(TRANSLATE)["translate"]["noise"] == 0.0
    assert cfg.translated_tasks() == [PLAIN] and cfg.uses_mlm
    assert cfg.data_tasks() == ["objclass", "objclass_tags"]  # a variant trains its base task's data


def test_real_mode_mlm_needs_a_corpus(tmp_path):
    from xstilts.core.config import validate
    from xstilts.core.errors import InputError

    raw = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    raw.pop("mlm", None)
    with pytest.raises(InputError, match=r"mlm\.corpus"):
        validate(raw, "paper.yaml")


def test_translations_are_the_english_examples_rendered(tmp_path):
    """Toy +translate data: the English rows are the twin's own training set, and every
    translation carries the same facts (the same object classes / polarity, the same NLI
    label and an item rendered from the same clauses)."""
    from xstilts.stages.data import read_tsv
    from xstilts.toy import generate
    from xstilts.toy.translate_twins import translated_rows

    toy = {"seed": 0, "n_train": 40, "n_dev": 20, "n_test": 20}
    generate(tmp_path, languages=("en", "qaa", "qad"), n_corpus=100, n_objclass_train=14, **toy)
    for task in ("objclass_tags", "polarity_tags"):
        rows = translated_rows(toy, ["qaa", "qad"], task)
        english = read_tsv(tmp_path / f"hub/xstilts/toy-controls/{task}/train.tsv")
        assert [(r["tokens"], r["tags"]) for r in rows["en"]] == [(r["tokens"], r["tags"]) for r in english]
        for lang in ("qaa", "qad"):
            assert len(rows[lang]) == len(english)
            assert all(r["language"] == lang for r in rows[lang])
            for en, tr in zip(rows["en"], rows[lang]):
                assert sorted(t for t in en["tags"].split() if t != "O") == \
                    sorted(t for t in tr["tags"].split() if t != "O")
            assert sum(en["tokens"] != tr["tokens"] for en, tr in zip(rows["en"], rows[lang])) > len(english) // 2
    rows = translated_rows(toy, ["qaa", "qad"], "mnli")
    english = pq.read_table(tmp_path / "hub/nyu-mll/glue/mnli/train.parquet").to_pylist()
    assert [(r["premise"], r["hypothesis"], r["label"]) for r in rows["en"]] == \
        [(r["premise"], r["hypothesis"], r["label"]) for r in english]
    assert [r["label"] for r in rows["qad"]] == [r["label"] for r in english]


def test_translate_noise_replaces_the_asked_fraction_of_words():
    from xstilts.stages.translate import add_noise

    feats = [{"seqs": [[0] + list(range(10, 110)) + [2]]} for _ in range(50)]
    n = add_noise(feats, 0.2, 1000, {0, 1, 2, 3}, "x")
    assert 0.15 * 5000 < n < 0.25 * 5000
    assert all(f["seqs"][0][0] == 0 and f["seqs"][0][-1] == 2 for f in feats)  # specials kept
    assert add_noise(feats, 0.0, 1000, {0, 1, 2, 3}, "x") == 0


# ------------------------------------------------------------------ one real Snakemake run
@pytest.fixture(scope="module")
def run(tmp_path_factory, snakemake):
    workdir = tmp_path_factory.mktemp("alternatives")
    t0 = time.time()
    snakemake(workdir, configs=(ALT,))
    print(f"alternatives workflow: {time.time() - t0:.0f}s")
    return workdir


def inter_cost(run, inter: str) -> dict:
    return json.loads((run / f"results/models/{MODEL}/inter/{inter}/s1/cost.json").read_text())


@pytest.mark.workflow
def test_mlm_interleaves_mlm_batches_and_drops_its_head(run):
    from safetensors import safe_open

    plain, mlm = inter_cost(run, PLAIN), inter_cost(run, MLM)
    m = mlm["mlm"]
    # ratio 1: the task keeps its 12 steps in expectation, MLM adds as many
    assert mlm["planned_steps"] == 2 * plain["planned_steps"] and 0 < m["steps"] < mlm["steps"]
    assert m["sequences"] > 0 and m["tokens"] > 0
    # MLM FLOPs are in the phase's cost: the +mlm phase costs its task FLOPs plus the MLM ones
    assert m["flops"] > 0 and mlm["flops"] > m["flops"] and mlm["flops"] > plain["flops"]
    # the held-out corpus MLM loss decreases, measured at every evaluation
    assert m["heldout_end"] < m["heldout_start"]
    held = [h["mlm_heldout"] for h in mlm["history"]]
    assert held and held[-1] < m["heldout_start"]
    assert "mlm" not in plain and "mlm_heldout" not in plain["history"][0]
    # the intermediate checkpoint holds the encoder and the task head, no MLM head
    ckpt = run / f"results/models/{MODEL}/inter/{MLM}/s1"
    assert json.loads((ckpt / "heads.json").read_text()) == {PLAIN: "tagging"}
    with safe_open(str(ckpt / "heads.safetensors"), "pt") as fh:
        assert all(k.startswith(f"{PLAIN}.") for k in fh.keys())
    with safe_open(str(ckpt / "encoder/model.safetensors"), "pt") as fh:
        assert not any("lm_head" in k or "decoder" in k for k in fh.keys())
    corpus = json.loads((run / "results/data/toy/_mlm-corpus/manifest.json").read_text())
    assert set(corpus["languages"]) == {"en", "qaa", "qad"} and corpus["heldout"] > 0


@pytest.mark.workflow
def test_translate_trains_on_every_toy_language(run):
    cost = inter_cost(run, TRANSLATE)
    by_lang = cost["examples_by_language"]
    assert set(by_lang) == {"en", "qaa", "qad"} and all(n > 0 for n in by_lang.values())
    assert sum(by_lang.values()) == cost["examples"]
    assert "examples_by_language" not in inter_cost(run, PLAIN)
    d = run / "results/data/toy/_translate/objclass_tags"
    manifest = json.loads((d / "manifest.json").read_text())
    english = pq.read_table(run / "results/data/toy/objclass_tags/train.parquet").to_pylist()
    for lang in ("qaa", "qad"):
        part = manifest["parts"][f"train-{lang}"]
        assert part["examples"] == len(english) and part["noised_tokens"] > 0  # noise 0.1
        feats = pq.read_table(d / f"train-{lang}.parquet").to_pylist()
        # the same facts: every example tags the same object classes as its English original
        for en, tr in zip(english, feats):
            assert sorted(x for x in en["labels"] if x > 0) == sorted(x for x in tr["labels"] if x > 0)


@pytest.mark.workflow
def test_variants_are_ordinary_cells_in_tables_gains_and_findings(run):
    cells = pq.read_table(run / "results/tables/cells.parquet").to_pandas()
    cells = cells[cells["kind"] == "cell"].set_index("inter")
    assert {PLAIN, MLM, TRANSLATE, "none"} <= set(cells.index)
    assert cells.loc[MLM, "intermediate_mlm_steps"] > 0 and cells.loc[MLM, "intermediate_mlm_flops"] > 0
    assert json.loads(cells.loc[TRANSLATE, "intermediate_examples_by_language"]).keys() == {"en", "qaa", "qad"}
    gains = pq.read_table(run / "results/tables/gains.parquet").to_pandas()
    v = gains[gains["comparison"] == "variant_vs_plain"].set_index("inter")
    assert set(v.index) == {MLM, TRANSLATE} and set(v["versus"]) == {PLAIN}
    assert (v["ci_low"] <= v["gain"]).all() and (v["gain"] <= v["ci_high"]).all()
    report = (run / "reports/report.html").read_text()
    assert "plain vs +mlm vs +translate" in report and "objclass_tags +mlm minus objclass_tags" in report


def _planned_inters(proc) -> dict[str, set[str]]:
    """``{rule: {inter wildcard}}`` of a dry run's jobs."""
    out: dict[str, set[str]] = {}
    for block in re.split(r"\n(?=(?:local)?rule )", proc.stdout + proc.stderr):
        m = re.match(r"(?:local)?rule (\w+):", block)
        w = re.search(r"wildcards:.*?inter=([^,\s]+)", block)
        if m:
            out.setdefault(m.group(1), set()).update({w.group(1)} if w else set())
    return out


@pytest.mark.workflow
def test_second_run_is_a_noop(run, snakemake, planned_jobs):
    assert planned_jobs(snakemake(run, "-n", configs=(ALT,))) == {}


@pytest.mark.workflow
@pytest.mark.parametrize("override, variant, data_rule", [
    ("mlm: {ratio: 0.5}", MLM, None),
    ("mlm: {probability: 0.2}", MLM, None),
    ("mlm: {heldout: 8}", MLM, "mlm_corpus"),
    ("translate: {noise: 0.2}", TRANSLATE, "translate_data"),
])
def test_a_variant_option_reruns_only_its_cells(run, snakemake, planned_jobs, override, variant, data_rule):
    f = run / "override.yaml"
    f.write_text(override + "\n")
    proc = snakemake(run, "-n", configs=(ALT, f))
    jobs, inters = planned_jobs(proc), _planned_inters(proc)
    assert jobs.get("intermediate") == 1 and inters["intermediate"] == {variant}
    assert inters["target"] == {variant} and jobs["target"] == 1
    assert "prepare" not in jobs and "base" not in jobs and "toy_data" not in jobs
    other = {"mlm_corpus", "translate_data"} - {data_rule}
    assert not other & set(jobs) and (data_rule is None or jobs[data_rule] == 1)


@pytest.mark.workflow
def test_an_interrupted_mlm_phase_resumes_exactly(run, tmp_path, monkeypatch):
    """SIGUSR1 mid-phase saves the state (MLM iterator, sampler, MLM counters included); the
    rerun resumes and ends where an uninterrupted run ends: same MLM steps, losses, weights."""
    import os
    import signal
    import threading

    from safetensors.torch import load_file

    from xstilts.core import paths
    from xstilts.core.config import validate
    from xstilts.stages import train

    raw = raw_config()
    raw["hparams"]["intermediate"].update(save_every=3)
    cfg = validate(raw)
    monkeypatch.chdir(run)
    ref = train.run(cfg, out=str(tmp_path / "ref"), model=MODEL, inter=MLM, seed=1)
    out = str(tmp_path / "int")
    state = Path(paths.state_dir(out)) / "state.json"

    def stop_after_first_state():
        t0 = time.time()
        while not state.exists() and time.time() - t0 < 60:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGUSR1)

    monkeypatch.setenv("XSTILTS_TEST_STEP_SLEEP", "0.1")
    watcher = threading.Thread(target=stop_after_first_state)
    watcher.start()
    with pytest.raises(SystemExit) as stopped:
        train.run(cfg, out=out, model=MODEL, inter=MLM, seed=1)
    watcher.join()
    assert stopped.value.code == 128 + signal.SIGUSR1
    monkeypatch.delenv("XSTILTS_TEST_STEP_SLEEP")
    cost = train.run(cfg, out=out, model=MODEL, inter=MLM, seed=1)
    assert cost["resumed_from"] == [4] and cost["steps"] == ref["steps"] == ref["planned_steps"]
    for key in ("steps", "tokens", "sequences"):
        assert cost["mlm"][key] == ref["mlm"][key], key
    for key in ("loss_first", "loss_last", "heldout_start", "heldout_end", "flops"):
        assert cost["mlm"][key] == pytest.approx(ref["mlm"][key], rel=1e-6), key
    for name in ("heads.safetensors", "encoder/model.safetensors"):
        got, want = load_file(f"{out}/{name}"), load_file(str(tmp_path / "ref" / name))
        assert got.keys() == want.keys()
        for k in want:
            assert (got[k] - want[k]).abs().max() < 1e-6, (name, k)


def test_real_mode_mlm_starts_from_the_snapshots_pretrained_head(tmp_path):
    """Real mode: the MLM head comes from the model's snapshot (XLM-R ships its lm_head), tied
    to the encoder's embeddings; toy mode (encoder-only base checkpoints) trains a fresh one."""
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM, XLMRobertaModel

    from xstilts.core.config import validate
    from xstilts.stages.mlm import MlmData, pretrained_head

    config = XLMRobertaConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                              intermediate_size=32, max_position_embeddings=514)
    torch.manual_seed(0)
    full = XLMRobertaForMaskedLM(config)
    full.save_pretrained(tmp_path / "snap", safe_serialization=True)
    raw = {"benchmark": "real", "seeds": [1],
           "tokenizers": {"t": {"hf_id": str(tmp_path / "snap")}},
           "models": {"m": {"hf_id": str(tmp_path / "snap"), "tokenizer": "t"}},
           "intermediate": ["none", "mnli+mlm"], "targets": ["xnli"], "mlm": {"corpus": str(tmp_path)}}
    weights = pretrained_head(validate(raw), "m")
    assert weights and {"dense.weight", "layer_norm.weight", "bias"} <= set(weights)
    encoder = XLMRobertaModel(config, add_pooling_layer=False)
    tok = type("Tok", (), {"pad_token_id": 1})()
    data = MlmData([{"seqs": [[0, 5, 2]]}], [], tok, 0.15, 2, 1.0, 0)
    head = data.make_head(encoder, weights)
    assert data.head_source == "pretrained"
    assert torch.equal(head.dense.weight, full.lm_head.dense.weight)
    x = torch.randn(3, 16)
    full.lm_head.decoder.weight = encoder.get_input_embeddings().weight  # the same embeddings
    assert torch.allclose(head(x), full.lm_head(x))
    assert head.decoder.weight is encoder.get_input_embeddings().weight
    toy = validate(raw_config())
    assert pretrained_head(toy, MODEL) is None
    data.make_head(encoder, None)
    assert data.head_source == "fresh"


def test_real_mode_missing_translations_or_corpus_are_missing_data(tmp_path):
    """A +translate without its translate.sources folder, or a +mlm without its corpus folder,
    is missing data like any other: listed at once, and `skip` leaves out exactly those cells."""
    from transformers import XLMRobertaConfig, XLMRobertaModel

    from xstilts.core.config import validate
    from xstilts.stages.data_check import cell_missing, missing_data, split_cells

    config = XLMRobertaConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                              intermediate_size=32, max_position_embeddings=514)
    XLMRobertaModel(config, add_pooling_layer=False).save_pretrained(tmp_path / "snap", safe_serialization=True)
    mirror = tmp_path / "mirror"
    for repo, conf, split in (("nyu-mll/glue", "mnli", "train"), ("nyu-mll/glue", "mnli", "validation_matched")):
        (mirror / repo / conf).mkdir(parents=True, exist_ok=True)
        (mirror / repo / conf / f"{split}.jsonl").write_text("{}\n")
    raw = {"benchmark": "real", "seeds": [1],
           "tokenizers": {"t": {"hf_id": str(tmp_path / "snap")}},
           "models": {"m": {"hf_id": str(tmp_path / "snap"), "tokenizer": "t"}},
           "intermediate": ["none", "mnli", "mnli+mlm", "mnli+translate"], "targets": ["xnli"],
           "mlm": {"corpus": str(tmp_path / "no-corpus")},
           "data": {"tasks": {"mnli": str(mirror)}, "on_missing_data": "skip"}}
    cfg = validate(raw)
    missing = missing_data(cfg)
    assert "translate.sources.mnli" in missing["translate:mnli"] and "mlm.corpus" in missing["mlm:corpus"]
    cells = {c.inter.name: c for c in cfg.cells()}
    assert cell_missing(cfg, cells["mnli"], missing) is None
    assert "translate:mnli" in cell_missing(cfg, cells["mnli+translate"], missing)
    keep, left = split_cells(cfg, cfg.cells(), {k: v for k, v in missing.items() if k.startswith(("translate:", "mlm:"))})
    assert {c.inter.name for c, _ in left} == {"mnli+mlm", "mnli+translate"}
    assert {c.inter.name for c in keep} == {"none", "mnli"}
    # provided: a corpus folder and a translate-train folder in the task's schema + language
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "de.txt").write_text("ein Satz\n")
    (tmp_path / "tt").mkdir()
    (tmp_path / "tt" / "train.jsonl").write_text(json.dumps(
        {"premise": "a", "hypothesis": "b", "label": 0, "idx": 0, "language": "de"}) + "\n")
    raw.update(mlm={"corpus": str(tmp_path / "corpus")}, translate={"sources": {"mnli": str(tmp_path / "tt")}})
    missing = missing_data(validate(raw))
    assert not any(k.startswith(("translate:", "mlm:")) for k in missing), missing

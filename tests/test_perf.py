"""The fast paths of issue 16: length-bucketed prediction, torch-free imports, MFU arithmetic.

Speed itself is shown by benchmarks/ (ratios measured in the same run), not here; these tests
check that the fast paths compute the same thing and keep their promises.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from xstilts.stages.common import length_batches


def _feats(lengths, n_seq=1):
    return [{"id": str(i), "seqs": [[5] * n for _ in range(n_seq)], "label": 0} for i, n in enumerate(lengths)]


def test_length_batches_cover_every_feature_once_within_the_budget():
    lengths = [7, 30, 3, 30, 12, 1, 25, 8, 8, 64, 2, 19]
    feats = _feats(lengths, n_seq=2)  # padded size = 2 x longest
    batches = length_batches(feats, max_tokens=100)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        padded = len(b) * 2 * max(lengths[i] for i in b)
        assert padded <= 100 or len(b) == 1  # a feature larger than the budget goes alone
    # sorted by length: no batch holds a feature shorter than one of the previous batch
    longest = [max(lengths[i] for i in b) for b in batches]
    shortest = [min(lengths[i] for i in b) for b in batches]
    assert all(s >= p for p, s in zip(longest, shortest[1:]))
    # by hand: lengths 1,2,3 fit 3 x 2 x 3 = 18 <= 100, ... the 64-token feature (128) is alone
    assert [lengths[i] for i in batches[-1]] == [64]
    assert max(len(b) for b in length_batches(feats, max_tokens=10_000, max_batch=4)) == 4


@pytest.fixture(scope="module")
def tagger():
    torch = pytest.importorskip("torch")
    from transformers import XLMRobertaConfig, XLMRobertaModel

    from xstilts.core.registry import get_task
    from xstilts.stages.models import XstiltsModel

    torch.manual_seed(0)
    enc = XLMRobertaModel(XLMRobertaConfig(vocab_size=60, hidden_size=32, num_hidden_layers=1,
                                           num_attention_heads=2, intermediate_size=64,
                                           max_position_embeddings=80, pad_token_id=1),
                          add_pooling_layer=False)
    task = get_task("panx")
    net = XstiltsModel(enc)
    from xstilts.core.registry import get_family

    family = get_family(task.family)
    net.add_head(task, family)
    return net.eval(), task, family


def test_predict_restores_the_order_and_matches_one_feature_at_a_time(tagger):
    import random

    import torch

    from xstilts.stages.common import predict

    net, task, family = tagger
    rng = random.Random(1)
    feats = [{"id": str(i), "seqs": [[0] + [rng.randrange(4, 60) for _ in range(n)] + [2]],
              "labels": [0] * (n + 2)} for i, n in enumerate(rng.choices(range(1, 40), k=37))]
    got = predict(net, task, family, feats, None, torch.device("cpu"), "float32", 1, max_tokens=200)
    assert len(got) == len(feats)
    with torch.no_grad():
        for f, p in zip(feats, got):  # the reference: every feature alone, no padding at all
            batch = family.collate([f], 1)
            ref = family.predict(net(task.name, family, batch["input_ids"], batch["attention_mask"]))[0]
            n = len(f["seqs"][0])
            assert p[:n] == ref[:n], f["id"]


def _loaded(code: str, modules: tuple[str, ...]) -> list[str]:
    """Which of ``modules`` a fresh interpreter has imported after running ``code``."""
    probe = f"{code}\nimport sys\nprint(','.join(m for m in {modules!r} if m in sys.modules))\n"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return [m for m in out.stdout.strip().split(",") if m]


def test_torch_free_modules_do_not_import_torch():
    """labels, baseline, prepare, mlm-corpus, translate-data and DAG building use these modules;
    none may pull in torch."""
    code = ("from xstilts.core.registry import get_family\n"
            "for f in ('classification', 'multiple_choice', 'qa', 'tagging', 'retrieval'): get_family(f)\n"
            "import xstilts.stages.labels, xstilts.stages.baseline, xstilts.stages.evaluate\n"
            "import xstilts.stages.data, xstilts.stages.tokenizers, xstilts.stages.distributed\n"
            "import xstilts.stages.cell_cost, xstilts.analysis.aggregate\n"
            "import xstilts.stages.mlm_corpus, xstilts.stages.translate, xstilts.stages.data_check\n")
    assert _loaded(code, ("torch",)) == []


def test_dag_building_imports_neither_torch_nor_pyarrow():
    """What workflow/rules/common.smk imports to build the DAG: every `snakemake` call (a dry
    run, a cluster submission, each local job's parent) pays for it, and pyarrow alone costs
    about 0.1 s; data files are only read by jobs."""
    import re

    smk = (Path(__file__).resolve().parents[1] / "workflow/rules/common.smk").read_text()
    imports = "\n".join(line for line in smk.splitlines() if re.match(r"from xstilts\S* import|import xstilts", line))
    assert imports.count("\n") >= 4, imports
    assert _loaded(imports, ("torch", "pyarrow", "pandas")) == []


def test_buffer_built_tables_match_pyarrow_and_reject_wrong_types():
    """The buffer-built tables (toy generator, aggregate) equal ``pa.table`` of the same columns,
    for every type their schemas use (strings with non-ASCII text, int32/int64, float64, bool,
    nulls, lists, structs)."""
    import math

    import pyarrow as pa

    from xstilts.core.arrow import columns_table

    schema = pa.schema([("s", pa.string()), ("i", pa.int32()), ("q", pa.int64()), ("b", pa.bool_()),
                        ("tags", pa.list_(pa.int64())),
                        ("answers", pa.struct([("text", pa.list_(pa.string())),
                                               ("answer_start", pa.list_(pa.int32()))]))])
    cols = {"s": ["Åsa köpte", "", "x" * 300] * 3, "i": [0, -7, 2**31 - 1] * 3,
            "q": [2**40, 1, -(2**63)] * 3, "b": [True, False, True, True, False, False, False, True, True],
            "tags": [[1, 2], [], [3]] * 3,
            "answers": [{"text": ["a", "bé"], "answer_start": [0, 4]}, {"text": [], "answer_start": []},
                        {"text": ["z"], "answer_start": [9]}] * 3}
    got = columns_table(schema, cols)
    assert got.equals(pa.table(cols, schema=schema))
    assert got.column("b").to_pylist() == cols["b"] and got.column("answers").to_pylist() == cols["answers"]
    with pytest.raises(TypeError):
        columns_table(schema, {**cols, "i": ["7"] * 9})
    with pytest.raises(TypeError):
        columns_table(schema, {**cols, "s": [1] * 9})
    with pytest.raises(ValueError):
        columns_table(schema, {**cols, "q": [1]})
    # the aggregate tables' columns: nulls in every scalar type
    flat = pa.schema([("s", pa.string()), ("q", pa.int64()), ("f", pa.float64()), ("b", pa.bool_())])
    cols = {"s": [None, "é", "", None, "abc"] * 3, "q": [1, None, -(2**63), 0, None] * 3,
            "f": [0.5, None, 0.0, 2, -1e300] * 3, "b": [None, True, False, None, True] * 3}
    got = columns_table(flat, cols)
    assert got.equals(pa.table(cols, schema=flat))
    assert got.column("f").null_count == 3 and got.column("s").to_pylist() == cols["s"]
    nan = columns_table(pa.schema([("f", pa.float64())]), {"f": [math.nan, None]}).column("f")
    assert nan.null_count == 1 and math.isnan(nan[0].as_py())  # as pa.table: NaN is a value
    assert columns_table(flat, {k: [] for k in cols}).equals(pa.table({k: [] for k in cols}, schema=flat))
    # the feature caches' columns: lists of lists, a null list (a feature lacking the key)
    nested = pa.schema([("seqs", pa.list_(pa.list_(pa.int32()))), ("tags", pa.list_(pa.string()))])
    cols = {"seqs": [[[0, 5, 2], [0, 2]], [], [[7]], None], "tags": [None, ["B-PER", "O"], [], ["é"]]}
    assert columns_table(nested, cols).equals(pa.table(cols, schema=nested))
    with pytest.raises(TypeError):  # no null structs
        columns_table(pa.schema([("a", schema.field("answers").type)]), {"a": [None]})


def test_toy_generation_does_not_import_pandas(tmp_path):
    """``pa.table`` of Python lists imports pandas (about 0.3 s); the toy-data stage needs none."""
    code = ("import sys\n"
            "from xstilts import toy\n"
            f"m = toy.generate({str(tmp_path)!r}, languages=['en', 'qaa'], n_train=10, n_dev=10, "
            "n_test=10, n_corpus=100, n_objclass_train=7)\n"
            "print(len(m['files']), 'pandas' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    n, pandas = out.stdout.split()
    assert int(n) > 50 and pandas == "False", out.stderr


def test_aggregate_and_feature_caches_do_not_import_pandas(tmp_path):
    """The aggregate stage and prepare's parquet writer build their tables from buffers
    (core.arrow): neither imports pandas (about 0.2 s of a light job)."""
    code = ("import sys\n"
            "from pathlib import Path\n"
            "from synthetic import write_artifacts\n"
            "from xstilts.analysis.aggregate import aggregate\n"
            "from xstilts.stages.data import write_features\n"
            "from xstilts.tasks.families.tagging import TAG_SCHEMA\n"
            f"root = Path({str(tmp_path)!r})\n"
            "art = write_artifacts(root)\n"
            "aggregate(art['cells'], root / 'tables', inference_profiles=art['inference_profiles'],\n"
            "          baselines=art['baselines'], benchmarks=art['benchmarks'])\n"
            "write_features(root / 'f.parquet', [{'id': 'a', 'seqs': [[0, 5, 2]], 'labels': [-100, 1, -100],\n"
            "                                     'word_index': [-1, 0, -1], 'chunk': 0, 'n_words': 1,\n"
            "                                     'tags': ['B-PER']}], TAG_SCHEMA)\n"
            "print(sorted(p.name for p in (root / 'tables').iterdir()), 'pandas' in sys.modules)\n")
    tests = str(Path(__file__).parent)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(
                             [tests, *filter(None, [os.environ.get("PYTHONPATH")])])})
    listing, pandas = out.stdout.rsplit(" ", 1)
    assert pandas.strip() == "False", out.stderr
    # written through a temporary name and a rename (core.arrow.write_parquet): nothing else left
    assert listing == str(["cells.parquet", "jobs.parquet", "languages.parquet"]), out.stdout


def test_report_does_not_import_matplotlib():
    """The report embeds the figure files; its table helpers (analysis.display) need no
    matplotlib (about 0.3 s)."""
    assert _loaded("import xstilts.analysis.report", ("matplotlib",)) == []


def test_labels_imports_neither_metrics_nor_records():
    """Writing gold labels needs the families' converters and writers only: the metrics (the
    families import them lazily, for scoring) and the records (eval.json) stay unloaded."""
    code = ("import xstilts.stages.labels, xstilts.stages.data\n"
            "from xstilts.core.registry import get_family\n"
            "for f in ('classification', 'multiple_choice', 'qa', 'tagging', 'retrieval'): get_family(f)\n")
    assert _loaded(code, ("xstilts.analysis.metrics", "xstilts.core.records")) == []


def test_mfu_against_the_datasheet_peak():
    from xstilts.stages.profiling import mfu, peak_tflops

    assert peak_tflops("NVIDIA H100 80GB HBM3", "bf16") == 989.0
    assert peak_tflops("NVIDIA H100 PCIe", "bfloat16") == 756.0
    assert peak_tflops("NVIDIA A100-SXM4-40GB", "float32") == 19.5
    assert peak_tflops("x86_64") is None and mfu(1e12, 1.0, "x86_64") is None
    # 312e12 * 0.25 FLOPs in one second on an A100 in bf16: a quarter of its peak
    assert mfu(78e12, 1.0, "NVIDIA A100-SXM4-80GB", "bfloat16") == pytest.approx(0.25)


def test_compile_switch_defaults_off(tiny_config, tmp_path):
    import yaml

    from xstilts.core.config import load

    assert load(tiny_config).runtime.compile is False
    raw = yaml.safe_load(tiny_config.read_text())
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({**raw, "compile": True}))
    assert load(tmp_path / "c.yaml").runtime.compile is True


def test_a_config_snapshot_loads_without_jsonschema_and_equals_the_validated_config(tmp_path):
    """A job reads the snapshot its Snakefile wrote after validating it (named by the hash of its
    text): no second schema check.  Any other file, or a snapshot whose text was edited after it
    was named, is validated."""
    import yaml

    from xstilts.core.config import ConfigError, load

    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "tests"))
    from realmode import write_config_snapshot

    snap = write_config_snapshot(tmp_path, yaml.safe_load((root / "config" / "config.yaml").read_text()))
    text = snap.read_text()
    code = ("import sys\nfrom xstilts.core.config import load\n"
            f"cfg = load({str(snap)!r})\ncfg.hparams('panx', 'target')\n"
            "print(len(cfg.cells()), 'jsonschema' in sys.modules, 'yaml' in sys.modules)\n")
    load(snap).hparams("panx", "target")  # the schema's parsed copy is cached (read_schema)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    n_cells, jsonschema_imported, yaml_imported = out.stdout.split()
    assert (jsonschema_imported, yaml_imported) == ("False", "False")
    assert load(snap).data == load(root / "config" / "config.yaml").data
    assert int(n_cells) == len(load(root / "config" / "config.yaml").cells())
    # edited after it was named: its name no longer matches its text, so it is checked
    assert '"threads": 1' in text
    snap.write_text(text.replace('"threads": 1', '"threads": "one"'))
    with pytest.raises(ConfigError, match="threads"):
        load(snap)
    other = tmp_path / "config.json"
    other.write_text(text.replace('"threads": 1', '"threads": "one"'))
    with pytest.raises(ConfigError, match="threads"):
        load(other)


def test_a_parsed_schema_is_cached_as_json_and_follows_its_yaml(tmp_path, monkeypatch):
    """read_schema keeps the parsed YAML as JSON named by the YAML's hash: an edited schema is
    parsed again (its old copy removed), a damaged copy is ignored."""
    from xstilts.core import schemas_io

    monkeypatch.setattr(schemas_io, "SCHEMA_DIR", tmp_path)
    (tmp_path / "x.schema.yaml").write_text("type: object  # a comment\nrequired: [a]\n")
    schemas_io.read_schema.cache_clear()
    try:
        assert schemas_io.read_schema("x") == {"type": "object", "required": ["a"]}
        (cached,) = (tmp_path / "__pycache__").glob("x.*.json")
        assert json.loads(cached.read_text()) == {"type": "object", "required": ["a"]}
        (tmp_path / "x.schema.yaml").write_text("type: object\nrequired: [b]\n")
        schemas_io.read_schema.cache_clear()
        assert schemas_io.read_schema("x")["required"] == ["b"]
        (new,) = (tmp_path / "__pycache__").glob("x.*.json")
        assert new != cached
        new.write_text("{not json")
        schemas_io.read_schema.cache_clear()
        assert schemas_io.read_schema("x")["required"] == ["b"]
        assert json.loads(new.read_text())["required"] == ["b"]
    finally:
        schemas_io.read_schema.cache_clear()


def test_a_dry_run_inspects_each_per_job_function_once(tmp_path, tiny_config, root):
    """Snakemake inspects the signature of an input, params or resource function every time it
    calls it (twice per resource and job); common.smk records it once for the functions of the
    rules with many jobs (target, evaluate) and for Snakemake's own ``Resource.evaluate``."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import collections, inspect, os, sys\n"
        "seen, counts, orig = {}, collections.Counter(), inspect.signature\n"
        "def counting(f, *a, **k):\n"
        "    code = getattr(f, '__code__', None)\n"
        "    seen[id(f)] = (os.path.basename(code.co_filename) if code else '', getattr(f, '__qualname__', ''), f)\n"
        "    counts[id(f)] += 1\n"
        "    return orig(f, *a, **k)\n"
        "inspect.signature = counting\n"
        "from snakemake.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "finally:\n"
        "    for key, n in counts.items():\n"
        "        name, qual, _ = seen[key]\n"
        "        print(f'SIGNATURE|{name}|{qual}|{n}', file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, str(probe), "-n", "--cores", "1", "--snakefile", str(root / "Snakefile"),
                           "--directory", str(tmp_path), "--configfile", str(tiny_config)],
                          capture_output=True, text=True)
    counts = [line.split("|")[1:] for line in proc.stderr.splitlines() if line.startswith("SIGNATURE|")]
    assert "Job stats" in proc.stdout + proc.stderr and counts, proc.stderr[-3000:]
    per_job = [(name, qual, int(n)) for name, qual, n in counts
               if name in ("target.smk", "evaluate.smk") or qual == "Resource.evaluate"]
    assert {qual for _, qual, _ in per_job} >= {"Resource.evaluate", "<lambda>"}, per_job
    assert all(n == 1 for _, _, n in per_job), per_job

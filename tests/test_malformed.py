"""Malformed configs are rejected before any job, each with a message naming the key, the value
and what was expected (the adversarial probes of issue 15); bad data files are one-line errors
naming the file."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from xstilts.core.config import ConfigError, validate

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def toy():
    return yaml.safe_load((ROOT / "config/config.yaml").read_text())


def _outside_tokenizer(c):
    c["tokenizers"]["../../../outside"] = {"train": {"vocab_size": 100}}
    c["models"]["tiny-2x64"]["tokenizer"] = "../../../outside"


PROBES = [
    ("tokenizer name escaping results/", _outside_tokenizer,
     r"tokenizers: '\.\./\.\./\.\./outside' does not match"),
    ("model name with a path", lambda c: c["models"].update({"a/../../b": c["models"]["tiny-2x64"]}),
     r"models: 'a/\.\./\.\./b' does not match"),
    ("task name with a path", lambda c: c["targets"].append("../x"), r"targets\.\d+: '\.\./x' does not match"),
    ("duplicate seeds", lambda c: c.update(seeds=[1, 1]), r"seeds: \[1, 1\] has non-unique elements"),
    ("float seed", lambda c: c.update(seeds=[1.0]), r"seeds\.0: 1\.0 is not of type 'integer'"),
    ("float layers", lambda c: c["models"]["tiny-2x64"]["toy"].update(layers=1.0),
     r"models\.tiny-2x64\.toy\.layers: 1\.0 is not of type 'integer'"),
    ("duplicate intermediates", lambda c: c.update(intermediate=["none", "none"]),
     r"intermediate: \['none', 'none'\] has non-unique elements"),
    ("duplicate targets", lambda c: c.update(targets=["udpos", "udpos"]),
     r"targets: \['udpos', 'udpos'\] has non-unique elements"),
    ("duplicate toy languages", lambda c: c["toy"].update(languages=["qaa", "qaa"]),
     r"toy\.languages: \['qaa', 'qaa'\] has non-unique elements"),
    ("max_length beyond the positions", lambda c: c["hparams"]["default"].update(max_length=600),
     r"hparams\.default\.max_length: 600 exceeds the position limit of model tiny-2x64 \(expected at most 512"),
    ("pretraining max_length beyond the positions", lambda c: c["pretrain"].update(max_length=1000),
     r"pretrain\.max_length \(model tiny-2x64\): 1000 exceeds the model's position limit \(expected at most 512\)"),
    ("continued MLM max_length beyond the positions", lambda c: c["mlm"].update(max_length=600),
     r"mlm\.max_length: 600 exceeds the position limit of model tiny-2x64 \(expected at most 512; the \+mlm"),
    ("retrieval_layer beyond the depth", lambda c: c["models"]["tiny-2x64"].update(retrieval_layer=3),
     r"models\.tiny-2x64\.retrieval_layer: 3 is beyond the model's depth \(expected 0\.\.2"),
    ("retrieval layer hparam beyond the depth", lambda c: c["hparams"]["tasks"].update(tatoeba={"layer": 5}),
     r"hparams\.tasks\.tatoeba\.layer: 5 is beyond the depth of model tiny-2x64 \(expected 0\.\.2"),
    ("unknown task under data.tasks", lambda c: c.update(data={"tasks": {"nope": "/tmp"}}),
     r"data\.tasks\.nope: unknown task 'nope'"),
    ("unknown task in an unused multitask", lambda c: c.update(multitask={"tasks": ["mnli", "nope"]}),
     r"multitask\.tasks\[1\]: unknown task 'nope'"),
    ("option of another family", lambda c: c["hparams"]["tasks"].update(udpos={"doc_stride": 5}),
     r"hparams\.tasks\.udpos\.doc_stride: 5 is an option of the qa family, but 'udpos' is a tagging task"),
    ("duplicate pairing entries", lambda c: c["pairing"].update(udpos=["none", "none"]),
     r"pairing\.udpos: \['none', 'none'\] has non-unique elements"),
    ("save_every not an integer", lambda c: c["hparams"]["default"].update(save_every=2.5),
     r"hparams\.default\.save_every: 2\.5 is not of type 'integer', 'null'"),
]


@pytest.mark.parametrize("what, mutate, message", PROBES, ids=[p[0] for p in PROBES])
def test_malformed_config_is_rejected_naming_key_and_value(toy, what, mutate, message):
    bad = copy.deepcopy(toy)
    mutate(bad)
    with pytest.raises(ConfigError, match=message):
        validate(bad)


def test_missing_local_data_folder_is_rejected_by_the_workflow_check(toy, tmp_path):
    toy["data"] = {"tasks": {"panx": str(tmp_path / "nope")}}
    validate(toy)  # a stage run by hand reads the folder later, naming the missing file
    with pytest.raises(ConfigError, match=r"data\.tasks\.panx: '.*nope' is not an existing folder"):
        validate(toy, check_paths=True)
    (tmp_path / "nope").mkdir()
    validate(toy, check_paths=True)


def test_real_model_max_length_is_checked_against_its_cached_config(tmp_path):
    """The position limit of a real model comes from its config.json in the HF cache (a
    cache laid out as huggingface_hub lays it out; nothing is fetched)."""
    rev = "0" * 40
    snap = tmp_path / "hub/models--org--enc/snapshots" / rev
    snap.mkdir(parents=True)
    (snap / "config.json").write_text(json.dumps(
        {"model_type": "xlm-roberta", "max_position_embeddings": 130, "num_hidden_layers": 3}))
    raw = {"benchmark": "real", "seeds": [1], "tokenizers": {"t": {"hf_id": "org/enc", "revision": rev}},
           "models": {"enc": {"tokenizer": "t", "hf_id": "org/enc", "revision": rev}},
           "intermediate": ["none"], "targets": ["xnli"],
           "hparams": {"default": {"max_length": 256}}}
    code = ("import json, sys; from xstilts.core.config import validate, ConfigError\n"
            "raw = json.loads(sys.argv[1])\n"
            "try:\n    validate(raw); print('ACCEPTED')\nexcept ConfigError as e:\n    print(e)\n")
    env = {"HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    run = lambda r: subprocess.run([sys.executable, "-c", code, json.dumps(r)], capture_output=True,  # noqa: E731
                                   text=True, env=env, timeout=60).stdout
    out = run(raw)
    assert "hparams.default.max_length: 256 exceeds the position limit of model enc (expected at most 128" in out
    raw["hparams"]["default"]["max_length"] = 128
    assert "ACCEPTED" in run(raw)
    raw["models"]["enc"]["retrieval_layer"] = 4
    assert "models.enc.retrieval_layer: 4 is beyond the model's depth (expected 0..3" in run(raw)


def test_local_model_folder_max_length_is_checked_against_its_config(tmp_path, monkeypatch):
    """A local model folder given as ``hf_id`` is read in place: its own config.json sets the
    position limit and the depth (no Hub cache involved)."""
    folder = tmp_path / "my-encoder"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(
        {"model_type": "xlm-roberta", "max_position_embeddings": 66, "num_hidden_layers": 2}))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    raw = {"benchmark": "real", "seeds": [1], "tokenizers": {"t": {"hf_id": str(folder)}},
           "models": {"enc": {"tokenizer": "t", "hf_id": str(folder)}},
           "intermediate": ["none"], "targets": ["xnli"], "hparams": {"default": {"max_length": 128}}}
    with pytest.raises(ConfigError, match=r"hparams\.default\.max_length: 128 exceeds the position limit "
                                          r"of model enc \(expected at most 64"):
        validate(copy.deepcopy(raw))
    raw["hparams"]["default"]["max_length"] = 64
    raw["models"]["enc"]["retrieval_layer"] = 3
    with pytest.raises(ConfigError, match=r"models\.enc\.retrieval_layer: 3 is beyond the model's depth"):
        validate(copy.deepcopy(raw))
    raw["models"]["enc"]["retrieval_layer"] = 2
    validate(raw)


def test_a_tokenizer_larger_than_its_models_embeddings_stops_its_tokenizer_job(tmp_path):
    """Real mode: a model paired with a tokenizer whose ids exceed its embedding rows would fail
    deep inside the model (a device-side assert on a GPU); the tokenizer job stops first, naming
    the key, and saves nothing."""
    sys.path.insert(0, str(ROOT / "tests"))
    from realmode import COMMIT, REPO, stand_in_xlmr, write_config_snapshot

    from xstilts.core import paths

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"word{i} other{i % 7} thing{i % 13}\n" for i in range(200)))
    snap = stand_in_xlmr(tmp_path / "hf", [corpus])  # a tokenizer and its model, in the HF cache
    small = tmp_path / "small-encoder"  # another model: 100 embedding rows
    small.mkdir()
    (small / "config.json").write_text(json.dumps({"model_type": "bert", "vocab_size": 100}))
    raw = {"benchmark": "real", "seeds": [1], "tokenizers": {"xlmr": {"hf_id": REPO, "revision": COMMIT}},
           "models": {"xlmr-base": {"hf_id": REPO, "revision": COMMIT, "tokenizer": "xlmr"},
                      "small": {"hf_id": str(small), "tokenizer": "xlmr"}},
           "intermediate": ["none"], "targets": ["xnli"]}
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}

    def tokenizer_job(raw: dict) -> subprocess.CompletedProcess:
        config = write_config_snapshot(tmp_path, raw)  # the config the Snakefile hands its jobs
        return subprocess.run([sys.executable, "-m", "xstilts.cli", "tokenizer", "--name", "xlmr",
                               "--config", str(config)], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300)

    entries = json.loads((snap / "config.json").read_text())["vocab_size"]
    r = tokenizer_job(raw)
    assert r.returncode == 2, r.stderr[-2000:]
    assert (f"models.small.tokenizer: tokenizer 'xlmr' has {entries:,} entries, more than the 100 "
            "embedding rows of model small") in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / paths.tokenizer_dir("xlmr")).exists()
    del raw["models"]["small"]
    r = tokenizer_job(raw)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / paths.tokenizer_file("xlmr")).exists()


def test_workflow_refuses_a_tokenizer_outside_results_before_any_job(tmp_path, tiny_config):
    raw = yaml.safe_load(tiny_config.read_text())
    raw["tokenizers"] = {"../../../outside": raw["tokenizers"]["toy"]}
    raw["models"]["nano-1x32"]["tokenizer"] = "../../../outside"
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    work = tmp_path / "a/b/c"
    work.mkdir(parents=True)
    r = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
                        "--directory", str(work), "--configfile", str(tmp_path / "c.yaml"), "--cores", "1"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "tokenizers: '../../../outside' does not match" in r.stderr, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "outside").exists() and not (work / "results").exists()


# ---------------------------------------------------------------------------- bad data files
def _mirror(tmp_path: Path, rows_file: str, content: bytes) -> Path:
    """A local mirror of xnli's English train split holding ``content``."""
    from xstilts.core.registry import get_task

    src = get_task("xnli").train
    base = tmp_path / "mirror" / src.repo / (src.config or "default")
    base.mkdir(parents=True)
    (base / f"{src.split}{rows_file}").write_bytes(content)
    return base / f"{src.split}{rows_file}"


@pytest.mark.parametrize("ext, content, message", [
    (".jsonl", b'{"premise": "a", "hypothesis": "b", "label": 0}\n[1, 2]\n',
     r":2: expected a JSON object \(one row\), found list"),
    (".jsonl", b'{"premise": "caf\xe9", "hypothesis": "b", "label": 0}\n', r": not UTF-8 text \(byte \d+"),
    (".parquet", b"PAR1\x00\x00truncated", r": not a readable parquet file \(truncated or corrupt\?\)"),
    (".jsonl", b'{"premise": 7, "hypothesis": "b", "label": 0}\n', r" row 0: field 'text_a' must be text, found int 7"),
])
def test_bad_data_file_is_one_line_naming_the_file(tmp_path, ext, content, message):
    """Reading the file through the family's converter, as the prepare stage does."""
    from xstilts.core.registry import get_task
    from xstilts.stages.data import load_examples

    from xstilts.core.errors import InputError

    path = _mirror(tmp_path, ext, content)
    with pytest.raises(InputError, match=message) as err:
        load_examples(get_task("xnli"), "train", str(tmp_path / "mirror"))
    assert str(path) in str(err.value) and "\n" not in str(err.value)

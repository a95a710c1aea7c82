"""Retrieval family: margin mining and threshold search on hand-made similarity matrices, mean
pooling, the layer sweep, converters (toy twins and hand-made files), the submission files, and a
tiny MLM-pretrained model on toy Tatoeba."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from xstilts.stages.data import DataError, load_examples
from xstilts.tasks.families import retrieval as R
from xstilts.core.registry import get_family, get_task
from xstilts.toy import generate

FAM = get_family("retrieval")


# --------------------------------------------------------------------------- margin, threshold
def test_margin_candidates_ratio_margin_by_hand():
    sim = np.array([[0.9, 0.1, 0.2],
                    [0.2, 0.8, 0.7],
                    [0.1, 0.75, 0.3]])
    got = R.margin_candidates(sim, k=2)
    # k=2 means: rows [0.9, 0.2] -> .55, [0.8, 0.7] -> .75, [0.75, 0.3] -> .525;
    # columns [0.9, 0.2] -> .55, [0.8, 0.75] -> .775, [0.7, 0.3] -> .5
    x_mean, y_mean = [0.55, 0.75, 0.525], [0.55, 0.775, 0.5]
    score = lambda i, j: sim[i, j] / ((x_mean[i] + y_mean[j]) / 2)  # noqa: E731
    # source 1's nearest target is 1 by cosine (.8 > .7) but target 1 is also close to source 2,
    # so the margin prefers 2 for it: .7 / .625 = 1.12 > .8 / .7625 = 1.049
    assert score(1, 2) == pytest.approx(1.12) and score(1, 1) == pytest.approx(0.8 / 0.7625)
    # greedy one-to-one walk over the best proposals: (0,0), (1,2), (2,1)
    assert [(s, t) for s, t, _ in got] == [(0, 0), (2, 1), (1, 2)]
    assert [sc for _, _, sc in got] == pytest.approx([score(0, 0), score(2, 1), score(1, 2)])


def test_margin_prefers_the_hub_free_pair():
    # target 0 is a "hub" (similar to every source); the margin demotes it for source 1
    sim = np.array([[0.9, 0.0],
                    [0.85, 0.6],
                    [0.8, 0.0]])
    pairs = {(s, t) for s, t, _ in R.margin_candidates(sim, k=2)}
    assert (1, 1) in pairs and (0, 0) in pairs


def test_best_threshold_known_f1():
    # scores 5 4 3 2 1; gold = a, b, d (c and e wrong); 4 gold pairs in total (one never mined)
    cands = [("a", "A", 5.0), ("b", "B", 4.0), ("c", "X", 3.0), ("d", "D", 2.0), ("e", "Y", 1.0)]
    gold = {("a", "A"), ("b", "B"), ("d", "D"), ("f", "F")}
    threshold, f1 = R.best_threshold(cands, gold)
    # keep top 1: P 1 R .25 F .4; top 2: P 1 R .5 F .667; top 3: P .667 R .5 F .571;
    # top 4: P .75 R .75 F .75 (best); top 5: P .6 R .75 F .667
    assert f1 == pytest.approx(0.75)
    assert threshold == pytest.approx(1.5)  # midway between the 4th and 5th scores


def test_mine_mode_threshold_from_sample_applied_to_test():
    # two splits, two gold pairs each + one unpaired target; embeddings chosen by hand
    def feat(i, side, split, gold=()):
        return {"id": i, "side": side, "split": split, "gold": list(gold)}

    feats, vecs = [], []
    for split in ("sample", "test"):
        for k in range(2):
            feats += [feat(f"{split}-x{k}", "src", split, [f"{split}-y{k}"]),
                      feat(f"{split}-y{k}", "trg", split)]
            v = np.eye(4)[k]
            vecs += [v, v + 0.05]
        feats.append(feat(f"{split}-y9", "trg", split))
        vecs.append(np.array([0.3, 0.3, 1.0, 0.0]))
    ids, outs, extra = R.SEARCHES["mine"].search(feats, np.stack(vecs), margin_k=2)
    assert sorted(zip(ids, outs)) == [("test-x0", "test-y0"), ("test-x1", "test-y1")]
    assert extra["sample_f1"] == pytest.approx(1.0)
    task = get_task("bucc2018")
    m = R.SEARCHES["mine"].metric(task, ids, outs, feats)
    assert (m["f1"], m["precision"], m["recall"], m["n"]) == (1.0, 1.0, 1.0, 2)


# --------------------------------------------------------------------------- pooling, sweep
def _tiny_model(layers=2):
    from transformers import XLMRobertaConfig, XLMRobertaModel

    from xstilts.stages.models import XstiltsModel

    torch.manual_seed(0)
    cfg = XLMRobertaConfig(vocab_size=50, hidden_size=16, num_hidden_layers=layers,
                           num_attention_heads=2, intermediate_size=32, max_position_embeddings=40,
                           pad_token_id=1, type_vocab_size=1)
    return XstiltsModel(XLMRobertaModel(cfg, add_pooling_layer=False)).eval()


def test_mean_pooling_ignores_padding():
    from xstilts.stages.common import predict

    model = _tiny_model()
    task = get_task("tatoeba")
    short = {"id": "a", "seqs": [[0, 5, 6, 7, 2]], "label": 0, "side": "src", "split": "test", "gold": []}
    long = {"id": "b", "seqs": [[0] + list(range(5, 30)) + [2]], "label": 0, "side": "trg",
            "split": "test", "gold": []}
    alone = predict(model, task, FAM, [short], 8, torch.device("cpu"), pad_id=1)[0]
    padded = predict(model, task, FAM, [short, long], 8, torch.device("cpu"), pad_id=1)[0]
    assert alone.shape == (3, 16)  # embeddings + 2 layers
    np.testing.assert_allclose(alone.astype(np.float32), padded.astype(np.float32), atol=2e-3)
    # and the pooling itself: padding positions carry no weight
    h = torch.randn(2, 3, 4, 8)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    pooled = R.mean_pool(h, mask)
    torch.testing.assert_close(pooled[0], h[0, :, :2].mean(-2))
    torch.testing.assert_close(pooled[1], h[1].mean(-2))


@pytest.mark.parametrize("n_layers,expected", [(24, 14), (12, 7), (2, 1), (3, 2), (6, 4)])
def test_default_layer_is_xtreme_relative_depth(n_layers, expected):
    assert R.default_layer(n_layers, zero_shot=True) == expected
    assert R.default_layer(n_layers, zero_shot=False) == n_layers


def test_layer_sweep_one_value_per_layer_and_headline_is_default_layer():
    rng = np.random.default_rng(0)
    n, layers, hidden = 20, 6, 8
    task = get_task("tatoeba")
    feats, preds = [], []
    for i in range(n):
        base = rng.normal(size=(layers + 1, hidden))
        noise = rng.normal(size=(layers + 1, hidden)) * np.linspace(3, 0.1, layers + 1)[:, None]
        feats.append({"id": f"x-{i}", "side": "src", "split": "test", "gold": [f"y-{i}"]})
        preds.append(base + noise)
        feats.append({"id": f"y-{i}", "side": "trg", "split": "test", "gold": []})
        preds.append(base)
    ids, outs = FAM.outputs(task, preds, feats, search="nearest")
    score = FAM.score(task, ids, outs, feats, "xx")
    assert sorted(k for k in score if k.startswith("layer_")) == [f"layer_{k}" for k in range(layers + 1)]
    assert score["layer"] == R.default_layer(layers, True) == 4
    assert score["accuracy"] == score["layer_4"]
    assert score["layer_6"] == 1.0 and score["layer_0"] < score["layer_6"]
    # an override picks another layer; out of range is a clear error
    ids2, outs2 = FAM.outputs(task, preds, feats, search="nearest", layer=0)
    assert FAM.score(task, ids2, outs2, feats, "xx")["accuracy"] == score["layer_0"]
    with pytest.raises(ValueError, match="outside 0..6"):
        FAM.outputs(task, preds, feats, search="nearest", layer=7)


# --------------------------------------------------------------------------- data and files
@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    generate(root, seed=0, languages=("en", "qaa", "qad"), n_train=40, n_dev=20, n_test=40,
             n_corpus=200)
    return root / "hub"


def test_toy_tatoeba_and_bucc_through_the_converters(toy_root):
    tat = load_examples(get_task("tatoeba"), "test-qad", str(toy_root))
    assert len(tat) == 40 and all(ex["src"] and ex["trg"] and ex["split"] == "test" for ex in tat)
    assert len({ex["trg"] for ex in tat}) == 40  # one correct target per source
    bucc = load_examples(get_task("bucc2018"), "test-qaa", str(toy_root))
    splits = {s: [ex for ex in bucc if ex["split"] == s] for s in ("sample", "test")}
    for exs in splits.values():
        gold = [ex for ex in exs if ex["src"] and ex["trg"]]
        only_src = [ex for ex in exs if ex["src"] and not ex["trg"]]
        only_trg = [ex for ex in exs if ex["trg"] and not ex["src"]]
        assert len(gold) == 10 and len(only_src) == len(only_trg) == 40
    ids = [ex["src_id"] for ex in bucc if ex["src"]] + [ex["trg_id"] for ex in bucc if ex["trg"]]
    assert len(ids) == len(set(ids))  # sample and test rows keep distinct ids


def test_lareqa_pool_and_toy_xquad_r(toy_root):
    task = get_task("lareqa")
    exs = load_examples(task, "test-qaa", str(toy_root))
    qs = [ex for ex in exs if ex["side"] == "q"]
    cands = {ex["id"]: ex for ex in exs if ex["side"] == "c"}
    assert qs and len({c.split("-")[0] for c in cands}) == 3  # the pool holds en, qaa, qad
    for q in qs:
        assert len(q["gold"]) == 3 and all(g in cands for g in q["gold"])
    # the relevant English candidate is the answer sentence of the English row
    en = pq.read_table(toy_root / "google-research-datasets/xquad_r/en/validation.parquet").to_pylist()
    row = next(r for r in en if r["id"] == qs[0]["id"])
    en_gold = next(g for g in qs[0]["gold"] if g.startswith("en-"))
    assert cands[en_gold]["text"] == row["answers"]["text"][0]


def test_squad_pairs_from_a_hand_made_file(tmp_path):
    root = tmp_path / "hub"
    d = root / "rajpurkar/squad/default"
    d.mkdir(parents=True)
    ctx = "Anna bought a car. Then she sold it to Ben! Ben was happy."
    rows = [{"id": "q1", "title": "t", "context": ctx, "question": "Who bought a car?",
             "answers": {"text": ["Anna"], "answer_start": [0]}},
            {"id": "q2", "title": "t", "context": ctx, "question": "To whom?",
             "answers": {"text": ["Ben"], "answer_start": [ctx.index("Ben")]}}]
    pq.write_table(pa.Table.from_pylist(rows), d / "train.parquet")
    exs = load_examples(get_task("lareqa"), "train", str(root))
    assert [(e["question"], e["answer"]) for e in exs] == [
        ("Who bought a car?", "Anna bought a car."), ("To whom?", "Then she sold it to Ben!")]
    rows[0]["answers"] = {"text": ["x"], "answer_start": [500]}
    pq.write_table(pa.Table.from_pylist(rows), d / "train.parquet")
    with pytest.raises(Exception, match="row 0.*outside the context"):
        load_examples(get_task("lareqa"), "train", str(root))


def test_mewslix_local_mirror_and_clear_error(tmp_path):
    task = get_task("mewslix")
    with pytest.raises(DataError, match=r"no Hub copy.*tasks: \{mewslix"):
        load_examples(task, "test-de", None)
    root = tmp_path / "mirror"
    for rel, rows in {
        "mewslix/de/test.jsonl": [{"id": "m1", "mention": "Berlin", "context": "in Berlin ist", "entity_id": "Q64"}],
        "mewslix/candidates/test.jsonl": [{"entity_id": "Q64", "description": "capital of Germany"},
                                          {"entity_id": "Q90", "description": "capital of France"}],
        "mewslix/en/train.jsonl": [{"id": "t1", "mention": "Paris", "context": "went to Paris",
                                    "entity_id": "Q90", "description": "capital of France"}],
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("".join(json.dumps(r) + "\n" for r in rows))
    test = load_examples(task, "test-de", str(root))
    assert [(e["side"], e["id"], e["gold"]) for e in test] == [
        ("q", "m1", ["Q64"]), ("c", "Q64", []), ("c", "Q90", [])]
    train = load_examples(task, "train", str(root))
    assert train == [{"id": "t1", "question": "Paris : went to Paris", "answer": "capital of France"}]
    # submission format: {mention id: [ranked entity ids]}, scored by `xstilts score` (MRR@20)
    from xstilts.stages.labels import write_labels
    from xstilts.analysis.score import score_predictions

    write_labels(task, {"de": test}, tmp_path / "labels")
    FAM.write_predictions(task, [["Q90", "Q64"]], ["m1"], tmp_path / "pred", "de")
    got = score_predictions(tmp_path / "pred", tmp_path / "labels", tasks=["mewslix"])["mewslix"]["de"]
    assert got["map@20"] == pytest.approx(50.0)  # gold at rank 2


def test_submission_files_round_trip_through_score(toy_root, tmp_path):
    """Gold written by ``gold()`` and predictions with one known error, scored by ``xstilts
    score`` (percentages)."""
    from xstilts.stages.labels import write_labels
    from xstilts.analysis.score import score_predictions

    for name, lang in (("tatoeba", "qaa"), ("bucc2018", "qad")):
        task = get_task(name)
        exs = load_examples(task, f"test-{lang}", str(toy_root))
        write_labels(task, {lang: exs}, tmp_path / "labels")
        ids, outs = FAM.gold(task, exs)
        # perfect predictions except the first one (Tatoeba: a wrong target; BUCC: dropped)
        wrong = list(outs)
        if name == "tatoeba":
            wrong[0] = outs[1]
        else:
            ids, wrong = ids[1:], wrong[1:]
        FAM.write_predictions(task, wrong, ids, tmp_path / "pred", lang)
        got = score_predictions(tmp_path / "pred", tmp_path / "labels", tasks=[name])[name][lang]
        if name == "tatoeba":
            assert got["accuracy"] == pytest.approx(100 * (1 - 1 / len(outs)))  # percentages
        else:
            n = len(outs)
            assert got["precision"] == 100.0 and got["recall"] == pytest.approx(100 * (n - 1) / n)
    task = get_task("lareqa")
    exs = load_examples(task, "test-qaa", str(toy_root))
    write_labels(task, {"qaa": exs}, tmp_path / "labels")
    ids, golds = FAM.gold(task, exs)
    FAM.write_predictions(task, golds, ids, tmp_path / "pred", "qaa")
    got = score_predictions(tmp_path / "pred", tmp_path / "labels", tasks=["lareqa"])["lareqa"]["qaa"]
    assert got["map@20"] == pytest.approx(100.0)


def test_lexical_baseline_and_chance(toy_root):
    task = get_task("tatoeba")
    exs = {lang: load_examples(task, f"test-{lang}", str(toy_root)) for lang in ("qaa", "qad")}
    out = FAM.baselines(task, [], exs)
    assert out["chance"] == {"qaa": 1 / 40, "qad": 1 / 40}
    assert 0 <= out["char_ngram"]["qad"] <= out["char_ngram"]["qaa"] <= 1


# --------------------------------------------------------------------------- LAReQA dual encoder
def test_lareqa_dual_encoder_trains_above_chance(tmp_path):
    """XTREME-R's recipe on the toy world: a dual encoder fine-tuned on English (question,
    answer sentence) pairs in the SQuAD schema (a hand-made file: paragraphs from the toy world,
    other sentences than the test's) ranks the answer sentences of a toy language far above
    chance, and above the untrained encoder."""
    from transformers import XLMRobertaConfig, XLMRobertaModel

    from xstilts.stages.data import prepare, read_features
    from xstilts.stages.evaluate import evaluate_cell
    from xstilts.stages.models import XstiltsModel, train_tokenizer
    from xstilts.toy.retrieval_twins import RetrievalTwins
    from xstilts.toy.world import build_world
    from xstilts.stages.train import TaskData, train_phase

    torch.set_num_threads(1)
    root = tmp_path / "toy"
    generate(root, seed=0, languages=("en", "qaa"), n_train=20, n_dev=20, n_test=160, n_corpus=1500)
    squad = RetrievalTwins(build_world(0, ("en", "qaa")), 1, 480).xquad_r()["en"]["validation"]
    d = root / "hub/rajpurkar/squad/default"  # replaces the toy SQuAD twin
    d.mkdir(parents=True, exist_ok=True)
    pq.write_table(squad, d / "train.parquet")
    pq.write_table(squad.slice(0, 40), d / "validation.parquet")
    tok = train_tokenizer([str(root / "corpus/en.txt"), str(root / "corpus/qaa.txt")], 600, str(tmp_path / "tok"))
    task = get_task("lareqa")
    data = tmp_path / "data"
    prepare(task, tok, str(data), ["train", "dev", "test-qaa"], str(root / "hub"), 64, 40)
    test = read_features(data / "test-qaa.parquet")
    n_cand = sum(f["side"] == "c" for f in test)
    chance = 2 / n_cand  # two relevant candidates (en, qaa) per question

    def fresh():
        torch.manual_seed(0)
        cfg = XLMRobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2,
                               num_attention_heads=2, intermediate_size=64,
                               max_position_embeddings=80, pad_token_id=tok.pad_token_id, type_vocab_size=1)
        model = XstiltsModel(XLMRobertaModel(cfg, add_pooling_layer=False))
        model.add_head(task, FAM)
        return model

    def evaluate(model, name):
        return evaluate_cell(model, task, str(data), ["qaa"], str(tmp_path / f"{name}.json"),
                             str(tmp_path / name), device=torch.device("cpu"), dtype="float32",
                             batch_size=64, pad_id=tok.pad_token_id,
                             meta={"benchmark": "toy", "model": name, "target": task.name},
                             options={"search": "rank"})["languages"]["qaa"]

    untrained = evaluate(fresh(), "untrained")
    model = fresh()
    td = TaskData(task, FAM, read_features(data / "train.parquet"), read_features(data / "dev.parquet"),
                  options={"search": "rank"})
    cost = train_phase(model, [td], {"lr": 2e-3, "batch_size": 32, "epochs": 10, "max_steps": 120,
                                     "warmup": 0.1, "eval_every": 40, "patience": 3, "save_every": 0},
                       phase="target", seed=1, device=torch.device("cpu"), pad_id=tok.pad_token_id,
                       log=lambda *a: None)
    trained = evaluate(model, "trained")
    print(f"toy LAReQA qaa mAP@20: trained {trained['map@20']:.3f} (layer {trained['layer']}), "
          f"untrained {untrained['map@20']:.3f}, chance {chance:.4f}, dev {cost['best_dev']:.3f}")
    assert trained["layer"] == 2  # a fine-tuned dual encoder is read at its last layer
    assert trained["map@20"] > 10 * chance
    # homograph world (docs/toy.md): measured trained .69 against untrained .61
    assert trained["map@20"] > untrained["map@20"] + 0.05
    pred = json.loads((tmp_path / "trained/lareqa/test-qaa.json").read_text())
    assert len(pred) == trained["n"] and all(len(v) == 20 for v in pred.values())


# --------------------------------------------------------------------------- Tatoeba, MLM model
@pytest.mark.slow
def test_tatoeba_mlm_model_above_chance_and_falls_with_distance(tmp_path):
    """A 2x64 model pretrained with the multilingual MLM on the toy corpus (150 steps, batch 32,
    lr 1e-3: ~40 s) retrieves toy Tatoeba translations far above chance from its default layer
    (14/24 of the depth -> 1 of 2), and retrieval falls along the toy languages' distance ladder.
    Measured (toy seed 0, 200 sentences, chance 0.005), layers 0 / 1 / 2: qaa .945/.95/.945,
    qab .735/.73/.715, qac .555/.53/.525, qad .105/.135/.15: the embedding layer is as good as
    the middle one, since shared words carry the match (the report treats toy retrieval as a
    shortcut control, docs/toy.md)."""
    from xstilts.stages.models import XstiltsModel, load_encoder, train_tokenizer
    from xstilts.stages.pretrain import pretrain_mlm
    from xstilts.stages.common import predict

    torch.set_num_threads(1)
    langs = ["en", "qaa", "qab", "qac", "qad"]
    root = tmp_path / "toy"
    generate(root, seed=0, n_train=20, n_dev=20, n_test=200, n_corpus=4000)
    corpus = [str(root / f"corpus/{lang}.txt") for lang in langs]
    tok = train_tokenizer(corpus, 1500, str(tmp_path / "tok"))
    pretrain_mlm({"layers": 2, "hidden": 64, "heads": 2}, tok, corpus, str(tmp_path / "base"), steps=150,
                 batch_size=32, lr=1e-3, max_length=64, warmup=0.06, seed=0,
                 device=torch.device("cpu"), log=lambda *a: None)
    model = XstiltsModel(load_encoder(str(tmp_path / "base")))
    task = get_task("tatoeba")
    sweeps = {}
    for lang in langs[1:]:
        feats = FAM.encode(tok, load_examples(task, f"test-{lang}", str(root / "hub")), 64)
        preds = predict(model, task, FAM, feats, 64, torch.device("cpu"), pad_id=tok.pad_token_id)
        ids, outs = FAM.outputs(task, preds, feats)
        score = FAM.score(task, ids, outs, feats, lang)
        assert score["layer"] == 1 and score["accuracy"] == score["layer_1"]
        sweeps[lang] = [score[f"layer_{k}"] for k in range(3)]
    print("toy Tatoeba accuracy per layer (0, 1, 2):", sweeps)
    chance = 1 / 200
    for lang, (_, mid, _) in sweeps.items():
        assert mid > 20 * chance, lang
    mids = [sweeps[lang][1] for lang in langs[1:]]
    assert mids == sorted(mids, reverse=True), mids  # qaa > qab > qac > qad


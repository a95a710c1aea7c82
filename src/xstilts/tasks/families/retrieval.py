"""Retrieval: Tatoeba and BUCC (XTREME), LAReQA and Mewsli-X (XTREME-R).

Every sentence is embedded by mean pooling (padding excluded) of the hidden states of one layer
of the encoder.  One forward pass gives every layer (``all_layers``), so each evaluation also
measures the metric at every layer: the *layer sweep*, stored in the per-language metrics as
``layer_<k>`` keys next to the ``layer`` used for the headline number.

Search modes (the registry's ``search`` hyperparameter of a task):

* ``nearest`` (Tatoeba): each source sentence retrieves its nearest target by cosine
  similarity; accuracy.
* ``mine`` (BUCC): bitext mining with the ratio margin over the ``margin_k`` nearest neighbours
  in both directions, candidates from both directions and a greedy one-to-one filter, as
  XTREME's ``mine_bitext``; the threshold maximising F1 on the ``sample`` split is applied
  unchanged to the ``test`` split (``bucc_optimize`` / ``bucc_extract``); F1, precision, recall.
* ``rank`` (LAReQA, Mewsli-X): each query ranks the candidate pool by cosine; mAP@20.

Canonical examples:

* bitext (Tatoeba, BUCC): ``{"id", "split", "src", "trg", "src_id", "trg_id"}``; a row of a
  comparable corpus has one side empty (a non-parallel sentence), a gold pair both.
* ranking (LAReQA, Mewsli-X): ``{"id", "side": "q"|"c", "text", "gold": [ids]}``;
  training pairs (dual encoder): ``{"id", "question", "answer"}``.

Features (``RETRIEVAL_SCHEMA``): one sentence each (``side`` ``src``/``trg``/``q``/``c``, the
``split`` it belongs to, the ``gold`` ids it should retrieve); dual-encoder training features
hold two sequences, [question, answer], and the loss is the in-batch cross entropy against the
diagonal of the similarity matrix (XTREME-R's recipe; no head parameters).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pyarrow as pa

from xstilts.core.lazy import lazy
from xstilts.tasks.families import ConversionError, Shared, pad, require

torch = lazy("torch")
nn = lazy("torch.nn")
M = lazy("xstilts.analysis.metrics")  # scoring only: the labels stage writes gold files without it

RETRIEVAL_SCHEMA = pa.schema([
    ("id", pa.string()), ("seqs", pa.list_(pa.list_(pa.int32()))), ("label", pa.int64()),
    ("side", pa.string()), ("split", pa.string()), ("gold", pa.list_(pa.string()))])

# XTREME pools the output of layer 14 of XLM-R large's 24 (``--specific_layer 14`` counted
# from the embeddings = hidden_states[14]); other depths use the same relative depth.
XTREME_LAYER, XTREME_DEPTH = 14, 24
MAP_K = 20
TRAIN_LAYER = -1  # the dual encoder is trained (and evaluated) on the last layer


def default_layer(n_layers: int, zero_shot: bool) -> int:
    """XTREME's relative depth for a checkpoint evaluated as is; the last layer for a dual
    encoder fine-tuned on the task."""
    return round(XTREME_LAYER / XTREME_DEPTH * n_layers) if zero_shot else n_layers


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the states of real tokens: ``hidden`` (..., length, hidden), ``mask``
    (n, length) broadcast over the leading dimensions after the first."""
    m = mask.to(hidden.dtype)
    while m.dim() < hidden.dim() - 1:
        m = m.unsqueeze(1)
    m = m.unsqueeze(-1)
    return (hidden * m).sum(-2) / m.sum(-2).clamp(min=1.0)


def normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


# ------------------------------------------------------------------------- search primitives
def nearest(sim: np.ndarray) -> np.ndarray:
    """Index of the best target of every source row."""
    return sim.argmax(1)


def topk(sim: np.ndarray, k: int) -> np.ndarray:
    """(rows, min(k, cols)) indices of the best columns of every row, best first."""
    k = min(k, sim.shape[1])
    part = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(sim, part, 1), axis=1, kind="stable")
    return np.take_along_axis(part, order, 1)


def margin_candidates(sim: np.ndarray, k: int = 4) -> list[tuple[int, int, float]]:
    """XTREME ``mine_bitext`` (mode ``mine``, retrieval ``max``, margin ``ratio``).

    ``sim``: cosine similarities (sources x targets).  Score of a pair = cos(x, y) divided by
    the mean of the average similarity of x to its k nearest targets and of y to its k nearest
    sources.  Each source proposes its best-scoring target among its k nearest, each target its
    best source; the proposals are walked best first and kept when neither side is used yet.
    Returns ``[(src index, trg index, score)]`` in that order."""
    if sim.size == 0:
        return []
    kx, ky = min(k, sim.shape[1]), min(k, sim.shape[0])
    x2y = topk(sim, kx)
    y2x = topk(sim.T, ky)
    x_mean = np.take_along_axis(sim, x2y, 1).mean(1)
    y_mean = np.take_along_axis(sim.T, y2x, 1).mean(1)
    fwd = sim[np.arange(sim.shape[0])[:, None], x2y] / ((x_mean[:, None] + y_mean[x2y]) / 2)
    bwd = sim.T[np.arange(sim.shape[1])[:, None], y2x] / ((y_mean[:, None] + x_mean[y2x]) / 2)
    fwd_best = x2y[np.arange(len(x2y)), fwd.argmax(1)]
    bwd_best = y2x[np.arange(len(y2x)), bwd.argmax(1)]
    src = np.concatenate([np.arange(sim.shape[0]), bwd_best])
    trg = np.concatenate([fwd_best, np.arange(sim.shape[1])])
    scores = np.concatenate([fwd.max(1), bwd.max(1)])
    seen_s, seen_t, out = set(), set(), []
    for i in np.argsort(-scores, kind="stable"):
        s, t = int(src[i]), int(trg[i])
        if s not in seen_s and t not in seen_t:
            seen_s.add(s)
            seen_t.add(t)
            out.append((s, t, float(scores[i])))
    return out


def best_threshold(candidates: list[tuple[object, object, float]], gold: set) -> tuple[float, float]:
    """XTREME ``bucc_optimize``: walk the candidates by decreasing score and return the
    threshold (midway to the next score) of the best F1, and that F1.  ``gold``: set of
    (src, trg) pairs."""
    items = sorted(candidates, key=lambda c: -c[2])
    best_f1, threshold, correct = 0.0, 0.0, 0
    for i, (s, t, score) in enumerate(items):
        correct += (s, t) in gold
        if correct:
            p, r = correct / (i + 1), correct / len(gold)
            f1 = 2 * p * r / (p + r)
            if f1 > best_f1:
                best_f1 = f1
                nxt = items[i + 1][2] if i + 1 < len(items) else score
                threshold = (score + nxt) / 2
    return threshold, best_f1


# ------------------------------------------------------------------------------ converters
def _row_index(where: str) -> int:
    return int(where.rsplit(" ", 1)[-1])


SAMPLE_SPLITS = {"validation": "sample"}  # BUCC's sample split is the Hub's validation split


def _bitext(row, task, where):
    """``google/xtreme`` ``tatoeba.<iso3>`` / ``bucc18.<lang>``: one sentence pair per row
    (source = the non-English side).  A comparable-corpus mirror marks a non-parallel sentence
    with an empty partner."""
    require(row, ("source_sentence", "target_sentence"), where)
    src, trg = row["source_sentence"].strip(), row["target_sentence"].strip()
    if not src and not trg:
        raise ConversionError(f"{where}: both source_sentence and target_sentence are empty")
    i = _row_index(where)
    split = SAMPLE_SPLITS.get(row.get("_split"), "test")
    src_lang = row.get("source_lang") or "xx"
    trg_lang = row.get("target_lang") or "en"
    return {"id": str(i), "split": split, "src": src, "trg": trg,
            "src_id": f"{src_lang}-{i:06d}" if src else None,
            "trg_id": f"{trg_lang}-{i:06d}" if trg else None}


_SENTENCE_END = re.compile(r"[.!?\u3002\uff01\uff1f\u0964](\s+|$)")  # . ! ? and CJK/Devanagari stops


def _bounds(context: str, breaks) -> list[int]:
    """Sentence end offsets: the row's ``sentence_breaks`` when given, else punctuation."""
    if breaks:
        return sorted(set(int(b) for b in breaks))
    return [m.end() for m in _SENTENCE_END.finditer(context)]


def sentence_spans(context: str, breaks=None) -> list[tuple[int, int]]:
    """Character spans of the non-empty sentences of a paragraph."""
    spans, lo = [], 0
    for b in _bounds(context, breaks) + [len(context)]:
        if context[lo:b].strip():
            spans.append((lo, b))
        lo = b
    return spans


def answer_sentence(row, where) -> tuple[list[str], int]:
    """(sentences of the context, index of the one holding the first answer)."""
    require(row, ("id", "context", "question", "answers"), where)
    starts = list((row["answers"] or {}).get("answer_start") or [])
    if not starts:
        raise ConversionError(f"{where}: question {row['id']!r} has no answers.answer_start")
    spans = sentence_spans(row["context"], row.get("sentence_breaks"))
    start = int(starts[0])
    for j, (lo, hi) in enumerate(spans):
        if lo <= start < hi:
            return [row["context"][a:b].strip() for a, b in spans], j
    raise ConversionError(f"{where}: answer_start {start} is outside the context "
                          f"({len(row['context'])} characters)")


def _squad_pairs(row, task, where):
    """``rajpurkar/squad`` -> (question, the sentence of the context holding the answer)."""
    sents, j = answer_sentence(row, where)
    return {"id": str(row["id"]), "question": row["question"], "answer": sents[j]}


def _xquad_r(row, task, where):
    """``google-research-datasets/xquad_r`` (and SQuAD-schema dev sets): a question, the
    sentences of its paragraph and the index of the answer sentence; ``_config`` = language."""
    sents, j = answer_sentence(row, where)
    return {"id": str(row["id"]), "lang": row.get("_config") or "en", "question": row["question"],
            "paragraph": row["context"], "sentences": sents, "answer_index": j}


def _mewslix(row, task, where):
    """Mewsli-X local mirror (flattened XTREME-R jsonl, see docs/retrieval.md): a candidate row
    ``{entity_id, description}``, a mention row ``{id, mention, context, entity_id}`` (query),
    or a training pair (a mention row that also has the entity's ``description``)."""
    if row.get("mention") is None:
        require(row, ("entity_id", "description"), where)
        return {"id": str(row["entity_id"]), "side": "c", "text": row["description"], "gold": []}
    require(row, ("id", "mention", "context", "entity_id"), where)
    text = f"{row['mention']} : {row['context']}"
    if row.get("description") is not None:
        return {"id": str(row["id"]), "question": text, "answer": row["description"]}
    return {"id": str(row["id"]), "side": "q", "text": text, "gold": [str(row["entity_id"])]}


class Retrieval(Shared):
    name = "retrieval"
    converters = {"bitext": _bitext, "squad_pairs": _squad_pairs, "xquad_r": _xquad_r,
                  "mewslix": _mewslix}
    feature_schema = RETRIEVAL_SCHEMA
    options = ("search", "layer", "margin_k")
    all_layers = True

    # ---- data -----------------------------------------------------------------------------
    def convert(self, rows, task, schema, source_desc):
        examples = super().convert(rows, task, schema, source_desc)
        if schema == "xquad_r":
            return self._lareqa_pool(examples)
        return examples

    @staticmethod
    def _lareqa_pool(examples):
        """XTREME-R LAReQA: the questions of the first language read (the evaluated one) are
        the queries; the candidates are the sentences of every language's paragraphs; a
        question's relevant candidates are its answer sentence in every language (parallel
        questions share their id across languages)."""
        primary = examples[0]["lang"]
        pool, par_index, answers = [], {}, {}
        for ex in examples:
            key = (ex["lang"], ex["paragraph"])
            if key not in par_index:
                par_index[key] = len(par_index)
                pool += [{"id": f"{ex['lang']}-{par_index[key]}-{j}", "side": "c", "text": s,
                          "gold": []} for j, s in enumerate(ex["sentences"])]
            answers.setdefault(ex["id"], []).append(f"{ex['lang']}-{par_index[key]}-{ex['answer_index']}")
        queries = [{"id": ex["id"], "side": "q", "text": ex["question"], "gold": answers[ex["id"]]}
                   for ex in examples if ex["lang"] == primary]
        return queries + pool

    def limit_examples(self, examples, limit, seed):
        """The dev subset of early stopping: ``limit`` random queries (or source sentences)
        with the whole candidate pool, which a subset must not lose."""
        import random

        queries = [i for i, ex in enumerate(examples) if ex.get("side") == "q" or ex.get("src")]
        if len(queries) <= limit:
            return examples
        drop = set(queries) - set(random.Random(seed).sample(queries, limit))
        return [ex for i, ex in enumerate(examples) if i not in drop]

    def _sentences(self, ex):
        """(text, side, split, gold) of the sentences of one example."""
        if "src" in ex:
            out = []
            if ex["src"]:
                out.append((ex["src_id"], ex["src"], "src", ex["split"],
                            [ex["trg_id"]] if ex["trg_id"] else []))
            if ex["trg"]:
                out.append((ex["trg_id"], ex["trg"], "trg", ex["split"], []))
            return out
        return [(ex["id"], ex["text"], ex["side"], "test", list(ex["gold"]))]

    def encode(self, tokenizer, examples, max_length, **options):
        if examples and "answer" in examples[0]:  # dual-encoder training pairs
            # a question and an answer are separate sequences (a dual encoder)
            q = tokenizer([ex["question"] for ex in examples], truncation=True, max_length=max_length)
            a = tokenizer([ex["answer"] for ex in examples], truncation=True, max_length=max_length)
            return [{"id": str(ex["id"]), "seqs": [qi, ai], "label": 0, "side": "pair",
                     "split": "train", "gold": []}
                    for ex, qi, ai in zip(examples, q["input_ids"], a["input_ids"])]
        flat = [s for ex in examples for s in self._sentences(ex)]
        ids = tokenizer([text for _, text, *_ in flat], truncation=True, max_length=max_length)["input_ids"]
        return [{"id": str(i), "seqs": [seq], "label": 0, "side": side, "split": split, "gold": gold}
                for (i, _, side, split, gold), seq in zip(flat, ids)]

    # ---- model ----------------------------------------------------------------------------
    def make_head(self, hidden, task, dropout=0.1):
        return nn.Identity()  # XTREME-R's dual encoder has no task parameters

    def collate(self, feats, pad_id):
        """No labels: the loss's targets are the diagonal of the in-batch similarities."""
        return {**pad(feats, pad_id), "labels": torch.zeros(len(feats), dtype=torch.long)}

    def logits(self, head, hidden, mask, batch_shape):
        """Pairs (training): the in-batch similarity matrix of questions x answers (last
        layer).  Single sentences: the mean-pooled embedding at every layer, (n, layers+1,
        hidden)."""
        pooled = mean_pool(hidden, mask)  # (b*s, layers+1, hidden)
        b, s = batch_shape
        if s == 2:
            emb = nn.functional.normalize(pooled[:, TRAIN_LAYER], dim=-1).view(b, 2, -1)
            return emb[:, 0] @ emb[:, 1].T / 0.05  # cosine / temperature
        return pooled

    def loss(self, logits, labels):
        return nn.functional.cross_entropy(logits, torch.arange(len(logits), device=logits.device))

    def predict(self, logits):
        return [row for row in logits.detach().cpu().to(torch.float16).numpy()]

    # ---- options ----------------------------------------------------------------------------
    def task_options(self, task, options: dict) -> dict:
        """``options`` over the registry task's own and the schema defaults (for callers that
        pass none, e.g. a test calling the family directly)."""
        return {**self.default_options(), **self.resolve_options(task.hparams), **options}

    def resolve_options(self, hp, model=None):
        """The hyperparameters' options; a model's ``retrieval_layer`` fills ``layer`` unless the
        hyperparameters set it."""
        opts = super().resolve_options(hp)
        if opts.get("layer") is None and model and model.get("retrieval_layer") is not None:
            opts["layer"] = int(model["retrieval_layer"])
        return opts

    def strategy(self, task, search=None) -> "Search":
        """The search of a task: the ``search`` option, else the registry task's."""
        mode = search or task.hparams.get("search")
        if mode not in SEARCHES:
            raise ValueError(f"task {task.name!r}: search mode {mode!r} is not one of {tuple(SEARCHES)}")
        return SEARCHES[mode]

    # ---- decoding and scoring -------------------------------------------------------------
    def outputs(self, task, preds, feats, **options):
        """Search at every layer; the outputs of the chosen layer carry the sweep."""
        o = self.task_options(task, options)
        strategy = self.strategy(task, o.get("search"))
        emb = np.stack(preds)  # (features, layers+1, hidden)
        n_layers = emb.shape[1] - 1
        layer = o["layer"]
        if layer is None:
            layer = default_layer(n_layers, task.zero_shot)
        layer = int(layer)
        if not 0 <= layer <= n_layers:
            raise ValueError(f"task {task.name!r}: layer {layer} is outside 0..{n_layers} "
                             f"(0 = embeddings, {n_layers} = last layer)")
        sweep, chosen = {}, None
        for k in range(n_layers + 1):
            ids, outs, extra = strategy.search(feats, emb[:, k], margin_k=int(o["margin_k"]))
            sweep[k] = strategy.metric(task, ids, outs, feats)[task.metric]
            if k == layer:
                chosen = (ids, outs, extra)
        ids, outs, extra = chosen
        return ids, Retrieved(outs, mode=strategy.name, layer=layer, sweep=sweep, extra=extra)

    def score(self, task, ids, outputs, feats, lang):
        strategy = self.strategy(task, getattr(outputs, "mode", None))
        out = strategy.metric(task, ids, list(outputs), feats)
        if isinstance(outputs, Retrieved):
            out.update(outputs.extra)
            out["layer"] = outputs.layer
            out.update({f"layer_{k}": v for k, v in outputs.sweep.items()})
        return out

    def gold(self, task, examples, search=None, **_):
        return self.strategy(task, search).gold(examples)

    def example_scores(self, task, preds, golds, lang, search=None, **_):
        """Per query (Tatoeba: one source sentence; ranking: one query); BUCC per source
        sentence of a gold or mined pair, whose counts recompute the mining F1."""
        return self.strategy(task, search).example_scores(preds, golds)

    # ---- inference profile ----------------------------------------------------------------
    def search_cost(self, task, feats, hidden: int, repeats: int = 5, **options) -> dict:
        """Wall time of the search over one language's features (similarities, top-k or
        margin mining and, for BUCC, the threshold search), with random embeddings of the
        model's width; the median of ``repeats`` runs.  Added to the inference profile next
        to the embedding latency and throughput."""
        import time

        o = self.task_options(task, options)
        strategy = self.strategy(task, o.get("search"))
        emb = np.random.default_rng(0).standard_normal((len(feats), hidden)).astype(np.float32)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            strategy.search(feats, emb, margin_k=int(o["margin_k"]))
            times.append(time.perf_counter() - t0)
        queries = sum(f["side"] in ("src", "q") and f["split"] == "test" for f in feats)
        return {"mode": strategy.name, "sentences": len(feats), "queries": queries,
                "candidates": sum(f["side"] in ("trg", "c") for f in feats),
                "search_ms": 1000 * float(np.median(times)),
                "search_ms_per_query": 1000 * float(np.median(times)) / max(queries, 1)}

    # ---- trivial baselines ----------------------------------------------------------------
    def baselines(self, task, train, evals, **options):
        """``char_ngram``: the same search on TF-IDF-free bags of character 3-grams (cosine);
        ``chance``: the expected score of a random choice (1 / candidates; BUCC: nothing
        mined scores 0)."""
        from xstilts.analysis.baselines import char_ngram_vectors

        o = self.task_options(task, options)
        strategy = self.strategy(task, o.get("search"))
        out = {"char_ngram": {}, "chance": {}}
        for lang, examples in evals.items():
            feats = [{"id": i, "side": side, "split": split, "gold": gold, "text": text}
                     for ex in examples for i, text, side, split, gold in self._sentences(ex)]
            vecs = char_ngram_vectors([f["text"] for f in feats])
            ids, outs, _ = strategy.search(feats, vecs, margin_k=int(o["margin_k"]))
            out["char_ngram"][lang] = strategy.metric(task, ids, outs, feats)[task.metric]
            out["chance"][lang] = strategy.chance(feats)
        return out

    def chance(self, task, train):
        """Depends on the number of candidates of each language: see the ``chance`` baseline
        (``baselines``); without the evaluation data there is no single value."""
        return None

    # ---- output ---------------------------------------------------------------------------
    def write_predictions(self, task, outputs, ids, out_dir, lang, search=None, **_):
        """XTREME submission files: Tatoeba one retrieved target index per line (line i =
        source i), BUCC ``src_id<TAB>trg_id`` per mined pair, ranking ``{query: [ids]}``."""
        return self.write_submission(task, out_dir, lang, self.strategy(task, search).submission(ids, outputs))


def _side(feats, emb, side, split):
    idx = [i for i, f in enumerate(feats) if f["side"] == side and f["split"] == split]
    return [feats[i] for i in idx], emb[idx]


def _lines(lines) -> str:
    return "".join(f"{line}\n" for line in lines)


class Search:
    """One search mode: how embeddings become outputs, how outputs are scored and submitted."""

    name = ""

    def search(self, feats, emb, margin_k: int) -> tuple[list, list, dict]:
        """``emb``: (features, hidden) at one layer.  Returns ``(ids, outputs, extra)``."""
        raise NotImplementedError

    def metric(self, task, ids, outputs, feats) -> dict:
        raise NotImplementedError

    def gold(self, examples) -> tuple[list, list]:
        raise NotImplementedError

    def chance(self, feats) -> float:
        raise NotImplementedError

    def submission(self, ids, outputs) -> str:
        raise NotImplementedError

    def example_scores(self, preds, golds):
        """Per-example scores of the submission file (``analysis.score.READERS`` shapes)."""
        from xstilts.analysis.stats import ExampleScores

        return ExampleScores.mean([float(p == g) for p, g in zip(preds, golds, strict=True)])


class Nearest(Search):
    """Tatoeba: each source sentence retrieves its nearest target by cosine; accuracy."""

    name = "nearest"

    def search(self, feats, emb, margin_k):
        emb = normalize(emb)
        fs, xs = _side(feats, emb, "src", "test")
        ft, ys = _side(feats, emb, "trg", "test")
        best = nearest(xs @ ys.T)
        return [f["id"] for f in fs], [ft[j]["id"] for j in best], {}

    def metric(self, task, ids, outputs, feats):
        gold = {f["id"]: f["gold"] for f in feats if f["side"] == "src" and f["split"] == "test"}
        correct = [int(o in gold[i]) for i, o in zip(ids, outputs)]
        return {task.metric: float(np.mean(correct)) if correct else float("nan"), "n": len(correct)}

    def gold(self, examples):
        kept = [ex for ex in examples if ex["split"] == "test" and ex["src"]]
        return [ex["src_id"] for ex in kept], [ex["trg_id"] for ex in kept]

    def chance(self, feats):
        n = sum(f["side"] == "trg" and f["split"] == "test" for f in feats)
        return 1.0 / max(n, 1)

    def submission(self, ids, outputs):
        return _lines(str(int(o.rsplit("-", 1)[-1])) for o in outputs)


class Mine(Search):
    """BUCC: ratio-margin mining; the threshold of the best F1 on the ``sample`` split is
    applied to the ``test`` split; F1, precision, recall."""

    name = "mine"

    def search(self, feats, emb, margin_k):
        emb = normalize(emb)
        mined = {}
        for split in ("sample", "test"):
            fs, xs = _side(feats, emb, "src", split)
            ft, ys = _side(feats, emb, "trg", split)
            mined[split] = [(fs[s]["id"], ft[t]["id"], sc)
                            for s, t, sc in margin_candidates(xs @ ys.T, margin_k)]
        gold = {(f["id"], f["gold"][0]) for f in feats
                if f["split"] == "sample" and f["side"] == "src" and f["gold"]}
        if not gold:
            raise ValueError("BUCC mining: the sample split has no gold pairs to set the threshold")
        threshold, sample_f1 = best_threshold(mined["sample"], gold)
        kept = [(s, t) for s, t, sc in mined["test"] if sc >= threshold]  # bucc_extract
        return [s for s, _ in kept], [t for _, t in kept], {"threshold": threshold,
                                                             "sample_f1": sample_f1}

    def metric(self, task, ids, outputs, feats):
        gold = [f"{f['id']}\t{f['gold'][0]}" for f in feats
                if f["side"] == "src" and f["split"] == "test" and f["gold"]]
        out = M.bucc_prf([f"{s}\t{t}" for s, t in zip(ids, outputs)], gold)
        return {**out, "n": len(gold)}

    def gold(self, examples):
        kept = [ex for ex in examples if ex["split"] == "test" and ex["src"] and ex["trg"]]
        return [ex["src_id"] for ex in kept], [ex["trg_id"] for ex in kept]

    def chance(self, feats):
        return 0.0

    def submission(self, ids, outputs):
        return _lines(f"{s}\t{t}" for s, t in zip(ids, outputs))

    def example_scores(self, preds, golds):
        """One example per source sentence of a gold or mined pair: (correct, mined, gold)
        pairs, sets as ``metrics.bucc_prf``; the F1 of their sums is the mining F1."""
        from xstilts.analysis.stats import ExampleScores

        gold = {tuple(line.split("\t")) for line in golds}
        pred = {tuple(line.split("\t")) for line in preds}
        sources = sorted({p[0] for p in gold | pred})
        row = {s: k for k, s in enumerate(sources)}
        counts = np.zeros((len(sources), 3))
        for col, pairs in ((0, gold & pred), (1, pred), (2, gold)):
            for p in pairs:
                counts[row[p[0]], col] += 1
        return ExampleScores(counts, "f1", tuple(sources))


class Rank(Search):
    """LAReQA, Mewsli-X: each query ranks the candidate pool by cosine; mAP@20."""

    name = "rank"

    def search(self, feats, emb, margin_k):
        emb = normalize(emb)
        fq, qs = _side(feats, emb, "q", "test")
        fc, cs = _side(feats, emb, "c", "test")
        top = topk(qs @ cs.T, MAP_K)
        return [f["id"] for f in fq], [[fc[j]["id"] for j in row] for row in top], {}

    def metric(self, task, ids, outputs, feats):
        gold = {f["id"]: f["gold"] for f in feats if f["side"] == "q" and f["split"] == "test"}
        return {task.metric: M.mean_average_precision_at_k(gold, dict(zip(ids, outputs)), MAP_K),
                "n": len(gold)}

    def gold(self, examples):
        qs = [ex for ex in examples if ex["side"] == "q"]
        return [ex["id"] for ex in qs], [list(ex["gold"]) for ex in qs]

    def chance(self, feats):  # expected AP@20 of a random ranking ~ relevant / candidates
        n = sum(f["side"] == "c" for f in feats)
        rel = np.mean([len(f["gold"]) for f in feats if f["side"] == "q"])
        return float(rel / max(n, 1))

    def submission(self, ids, outputs):
        return json.dumps({i: list(o) for i, o in zip(ids, outputs)})

    def example_scores(self, preds, golds):
        """AP@20 per gold query (a query without a ranking scores 0)."""
        from xstilts.analysis.stats import ExampleScores

        return ExampleScores.mean([M.average_precision_at_k(t, preds.get(q, []), MAP_K)
                                   for q, t in golds.items()])


SEARCHES: dict[str, Search] = {s.name: s for s in (Nearest(), Mine(), Rank())}


class Retrieved(list):
    """The chosen layer's outputs, with the search mode, the layer and the layer sweep."""

    def __init__(self, items, mode, layer, sweep, extra):
        super().__init__(items)
        self.mode, self.layer, self.sweep, self.extra = mode, layer, sweep, dict(extra)


FAMILY = Retrieval()

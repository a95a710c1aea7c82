"""Trivial, language-agnostic, non-neural baselines (numpy only).

They see no word identities, only surface statistics that survive translation into any language:

* ``length_shared``: features = lengths of the texts, their difference, number of tokens shared
  by the two texts (names and digits included: they are shared across languages) and Jaccard
  overlap; a softmax-regression classifier (numpy, full-batch gradient descent) trained on the
  English training set, evaluated per language. For multiple choice the same features are
  computed between the context and each choice and a linear score picks the choice.
* ``overlap``: a pure word-overlap rule. Pairs: the Jaccard overlap is cut into bins at
  quantiles of the English training set, each bin predicts its majority training label.
  Multiple choice: the choice sharing most tokens with the context (ties count as a fraction
  ``1/#tied`` of a correct answer when the gold is among them). Single sentences: the majority
  training label (there is nothing to overlap with).

Canonical examples: pair ``{"text_a", "text_b", "label"}``, single ``{"text_a", "label"}``,
multiple choice ``{"context", "choices": [...], "label"}``; ``label`` an int.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

KINDS = ("pair", "single", "mc")
BASELINES = ("length_shared", "overlap")
_TOKEN = re.compile(r"\w+", re.UNICODE)


def tokens(text: str) -> list:
    return _TOKEN.findall(text.lower())


def overlap_stats(a: str, b: str) -> tuple:
    """-> (len_a, len_b, n_shared_types, jaccard) on lower-cased word tokens."""
    ta, tb = tokens(a), tokens(b)
    sa, sb = set(ta), set(tb)
    shared = len(sa & sb)
    union = len(sa | sb)
    return len(ta), len(tb), shared, (shared / union if union else 0.0)


def _n_anchor(text: str) -> int:
    """Tokens that survive translation: digits and capitalised non-initial words (names)."""
    toks = text.split()
    return sum(1 for i, t in enumerate(toks) if any(ch.isdigit() for ch in t) or (i and t[:1].isupper()))


# --------------------------------------------------------------------------- features

def pair_features(ex: dict) -> list:
    la, lb, sh, jac = overlap_stats(ex["text_a"], ex["text_b"])
    return [la, lb, la - lb, abs(la - lb), sh, jac, sh / max(lb, 1), _n_anchor(ex["text_a"]),
            _n_anchor(ex["text_b"])]


def single_features(ex: dict) -> list:
    t = tokens(ex["text_a"])
    return [len(t), len(ex["text_a"]), _n_anchor(ex["text_a"])]


def choice_features(ex: dict) -> np.ndarray:
    """(n_choices, n_features): per choice length, overlap with the context, and both relative
    to the mean over the choices."""
    rows = []
    for ch in ex["choices"]:
        lc, lch, sh, jac = overlap_stats(ex["context"], ch)
        rows.append([lch, len(ch), sh, jac, _n_anchor(ch)])
    f = np.asarray(rows, dtype=np.float64)
    return np.concatenate([f, f - f.mean(0, keepdims=True)], axis=1)


# --------------------------------------------------------------------------- classifiers

class Standardizer:
    def fit(self, x):
        self.mu = x.mean(0)
        self.sd = x.std(0)
        self.sd[self.sd == 0] = 1.0
        return self

    def __call__(self, x):
        return (x - self.mu) / self.sd


def _softmax(z, axis=-1):
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def fit_softmax_regression(x, y, n_classes, steps=500, lr=0.5, l2=1e-3):
    """Multinomial logistic regression by full-batch gradient descent (deterministic)."""
    x = np.concatenate([x, np.ones((len(x), 1))], axis=1)
    w = np.zeros((x.shape[1], n_classes))
    onehot = np.eye(n_classes)[y]
    for _ in range(steps):
        p = _softmax(x @ w)
        w -= lr * (x.T @ (p - onehot) / len(x) + l2 * w)
    return w


def predict_softmax_regression(w, x):
    x = np.concatenate([x, np.ones((len(x), 1))], axis=1)
    return (x @ w).argmax(1)


def fit_choice_scorer(feats, labels, steps=500, lr=0.5, l2=1e-3):
    """Linear score per choice, softmax over the choices of an item (conditional logit).

    ``feats``: (n_items, n_choices, n_features)."""
    f = np.asarray(feats, dtype=np.float64)
    n, c, d = f.shape
    onehot = np.eye(c)[np.asarray(labels)]
    w = np.zeros(d)
    for _ in range(steps):
        p = _softmax(f @ w)  # (n, c)
        g = np.einsum("ncd,nc->d", f, p - onehot) / n
        w -= lr * (g + l2 * w)
    return w


# --------------------------------------------------------------------------- the two baselines

def _labels(exs):
    return np.asarray([int(e["label"]) for e in exs], dtype=np.int64)


def length_shared_baseline(train: list, evals: dict, kind: str) -> dict:
    """Train on ``train`` (English), return ``{name: accuracy}`` for each list in ``evals``."""
    if kind == "mc":
        raw = [choice_features(e) for e in train]
        if len({r.shape[0] for r in raw}) != 1:
            raise ValueError("every training item must have the same number of choices")
        std = Standardizer().fit(np.concatenate(raw))
        w = fit_choice_scorer(np.stack([std(r) for r in raw]), _labels(train))
        out = {}
        for name, exs in evals.items():
            pred = np.asarray([int(np.argmax(std(choice_features(e)) @ w)) for e in exs])
            out[name] = float((pred == _labels(exs)).mean())
        return out
    feat = pair_features if kind == "pair" else single_features
    xtr = np.asarray([feat(e) for e in train], dtype=np.float64)
    ytr = _labels(train)
    n_classes = int(ytr.max()) + 1
    std = Standardizer().fit(xtr)
    w = fit_softmax_regression(std(xtr), ytr, n_classes)
    out = {}
    for name, exs in evals.items():
        x = np.asarray([feat(e) for e in exs], dtype=np.float64)
        out[name] = float((predict_softmax_regression(w, std(x)) == _labels(exs)).mean())
    return out


def _majority(y):
    return int(np.bincount(y).argmax())


def overlap_rule_baseline(train: list, evals: dict, kind: str, n_bins: int = 10) -> dict:
    if kind == "mc":
        out = {}
        for name, exs in evals.items():
            score = 0.0
            for e in exs:
                sh = np.asarray([overlap_stats(e["context"], c)[2] for c in e["choices"]])
                best = np.flatnonzero(sh == sh.max())
                if int(e["label"]) in best:
                    score += 1.0 / len(best)
            out[name] = score / len(exs)
        return out
    ytr = _labels(train)
    if kind == "single":
        m = _majority(ytr)
        return {name: float((_labels(exs) == m).mean()) for name, exs in evals.items()}
    jtr = np.asarray([overlap_stats(e["text_a"], e["text_b"])[3] for e in train])
    edges = np.unique(np.quantile(jtr, np.linspace(0, 1, n_bins + 1)[1:-1]))
    bins = np.searchsorted(edges, jtr, side="right")
    n_classes = int(ytr.max()) + 1
    default = _majority(ytr)
    bin_label = []
    for b in range(len(edges) + 1):
        yb = ytr[bins == b]
        bin_label.append(int(np.bincount(yb, minlength=n_classes).argmax()) if len(yb) else default)
    bin_label = np.asarray(bin_label)
    out = {}
    for name, exs in evals.items():
        j = np.asarray([overlap_stats(e["text_a"], e["text_b"])[3] for e in exs])
        pred = bin_label[np.searchsorted(edges, j, side="right")]
        out[name] = float((pred == _labels(exs)).mean())
    return out


def run_baselines(examples_by_split: dict, kind: str, train_split: str = "train") -> dict:
    """``examples_by_split``: ``{"train": [...English...], "<lang or split>": [...], ...}``.

    Returns ``{"length_shared": {name: acc}, "overlap": {name: acc}}`` over every non-train key.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    train = examples_by_split[train_split]
    evals = {k: v for k, v in examples_by_split.items() if k != train_split}
    return {"length_shared": length_shared_baseline(train, evals, kind),
            "overlap": overlap_rule_baseline(train, evals, kind)}


# --------------------------------------------------------------------------- reading toy twins

NLI = {"entailment": 0, "neutral": 1, "contradiction": 2}


def _read(hub_root, repo, config, split) -> list:
    import pyarrow.parquet as pq
    return pq.read_table(Path(hub_root) / repo / config / f"{split}.parquet").to_pylist()


def _pairs(rows, a, b, label=lambda r: int(r["label"])):
    return [{"text_a": r[a], "text_b": r[b], "label": label(r)} for r in rows]


def _copa(rows):
    return [{"context": r["premise"], "choices": [r["choice1"], r["choice2"]], "label": int(r["label"])}
            for r in rows]


#: task -> (kind, reader(hub_root, languages) -> {"train": [...], name: [...]})
def _mnli(h, langs):
    return {"train": _pairs(_read(h, "nyu-mll/glue", "mnli", "train"), "premise", "hypothesis"),
            "en": _pairs(_read(h, "nyu-mll/glue", "mnli", "validation_matched"), "premise", "hypothesis")}


def _anli(h, langs):
    return {"train": _pairs(_read(h, "facebook/anli", "default", "train_r1"), "premise", "hypothesis"),
            "en": _pairs(_read(h, "facebook/anli", "default", "test_r1"), "premise", "hypothesis")}


def _qqp(h, langs):
    return {"train": _pairs(_read(h, "nyu-mll/glue", "qqp", "train"), "question1", "question2"),
            "en": _pairs(_read(h, "nyu-mll/glue", "qqp", "validation"), "question1", "question2")}


def _sst2(h, langs):
    def conv(rows):
        return [{"text_a": r["sentence"], "label": int(r["label"])} for r in rows]
    return {"train": conv(_read(h, "nyu-mll/glue", "sst2", "train")),
            "en": conv(_read(h, "nyu-mll/glue", "sst2", "validation"))}


def _xnli(h, langs):
    rows = _read(h, "google/xtreme", "XNLI", "test")
    out = {"train": _pairs(_read(h, "nyu-mll/glue", "mnli", "train"), "premise", "hypothesis")}
    for lang in langs:
        out[lang] = _pairs([r for r in rows if r["language"] == lang], "sentence1", "sentence2",
                           lambda r: NLI[r["gold_label"]])
    return out


def _pawsx(h, langs):
    out = {"train": _pairs(_read(h, "google/xtreme", "PAWS-X.en", "train"), "sentence1", "sentence2")}
    for lang in langs:
        out[lang] = _pairs(_read(h, "google/xtreme", f"PAWS-X.{lang}", "test"), "sentence1", "sentence2")
    return out


def _copa_task(h, langs):
    return {"train": _copa(_read(h, "aps/super_glue", "copa", "train")),
            "en": _copa(_read(h, "aps/super_glue", "copa", "validation"))}


def _xcopa(h, langs):
    out = {"train": _copa(_read(h, "aps/super_glue", "copa", "train"))}
    for lang in langs:
        out[lang] = (_copa(_read(h, "aps/super_glue", "copa", "validation")) if lang == "en"
                     else _copa(_read(h, "cambridgeltl/xcopa", lang, "test")))
    return out


def _hellaswag(h, langs):
    def conv(rows):
        return [{"context": r["ctx"], "choices": list(r["endings"]), "label": int(r["label"])} for r in rows]
    return {"train": conv(_read(h, "Rowan/hellaswag", "default", "train")),
            "en": conv(_read(h, "Rowan/hellaswag", "default", "validation"))}


def _csqa(h, langs):
    def conv(rows):
        return [{"context": r["question"], "choices": list(r["choices"]["text"]),
                 "label": list(r["choices"]["label"]).index(r["answerKey"])} for r in rows]
    return {"train": conv(_read(h, "tau/commonsense_qa", "default", "train")),
            "en": conv(_read(h, "tau/commonsense_qa", "default", "validation"))}


def _cosmos(h, langs):
    def conv(rows):
        return [{"context": r["context"] + " " + r["question"],
                 "choices": [r[f"answer{i}"] for i in range(4)], "label": int(r["label"])} for r in rows]
    return {"train": conv(_read(h, "allenai/cosmos_qa", "default", "train")),
            "en": conv(_read(h, "allenai/cosmos_qa", "default", "validation"))}


TWIN_READERS = {
    "mnli": ("pair", _mnli), "anli": ("pair", _anli), "qqp": ("pair", _qqp),
    "sst2": ("single", _sst2), "xnli": ("pair", _xnli), "pawsx": ("pair", _pawsx),
    "copa": ("mc", _copa_task), "xcopa": ("mc", _xcopa), "hellaswag": ("mc", _hellaswag),
    "commonsenseqa": ("mc", _csqa), "cosmosqa": ("mc", _cosmos),
}

#: number of classes / choices per task (chance = 1 / n)
N_CLASSES = {"mnli": 3, "anli": 3, "xnli": 3, "qqp": 2, "sst2": 2, "pawsx": 2, "copa": 2,
             "xcopa": 2, "hellaswag": 4, "commonsenseqa": 5, "cosmosqa": 4}


def twin_examples(hub_root, task: str, languages=("en",)) -> tuple:
    """Canonical examples of a toy twin: ``(kind, {"train": [...], <lang>: [...]})``.

    Evaluation sets: targets (xnli, pawsx, xcopa) use the test split of each language (XCOPA's
    English = COPA validation); English-only tasks use their dev split under ``"en"``."""
    kind, reader = TWIN_READERS[task]
    return kind, reader(hub_root, tuple(languages))


def twin_baselines(hub_root, task: str, languages=("en",)) -> dict:
    """``run_baselines`` on a toy twin read from the local Hub mirror."""
    kind, exs = twin_examples(hub_root, task, languages)
    return run_baselines(exs, kind)


def baseline_eval(hub_root, task: str, languages=("en",), baseline: str = "length_shared") -> dict:
    """An ``eval.json``-shaped dict for one baseline on one toy twin."""
    kind, exs = twin_examples(hub_root, task, languages)
    res = run_baselines(exs, kind)
    langs = {lang: {"accuracy": res[baseline][lang], "n": len(exs[lang])} for lang in languages}
    zs = [v["accuracy"] for k, v in langs.items() if k != "en"]
    return {"benchmark": "toy", "model": "baseline", "inter": baseline, "target": task, "seed": 0,
            "metric": "accuracy", "languages": langs,
            "average": float(np.mean([v["accuracy"] for v in langs.values()])),
            "average_zero_shot": float(np.mean(zs)) if zs else None,
            "chance": 1.0 / N_CLASSES[task], "all_baselines": res}

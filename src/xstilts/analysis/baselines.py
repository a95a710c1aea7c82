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
import zlib

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


def char_ngram_vectors(texts: list, n: int = 3) -> np.ndarray:
    """Bag-of-character-``n``-gram count vectors (lower-cased, word boundaries marked), hashed
    into 2**12 buckets: the lexical retrieval baseline's sentence "embedding"."""
    dim = 1 << 12
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in tokens(text):
            w = f" {word} "
            for j in range(max(len(w) - n + 1, 1)):
                out[i, zlib.crc32(w[j:j + n].encode()) % dim] += 1.0
    return out


# --------------------------------------------------------------------------- registry tasks

def task_examples(task, local_root, languages=("en",)) -> dict:
    """``{"train": [...], <lang>: [...]}`` of a registry task, read through the same converters
    as training (``xstilts.stages.data``). Targets are scored on each language's test split;
    English-only (intermediate) tasks on their dev split, under ``"en"``."""
    from xstilts.stages.data import load_examples

    out = {"train": load_examples(task, "train", local_root) if task.train is not None else []}
    for lang in languages:
        part = f"test-{lang}" if task.test is not None else "dev"
        out[lang] = load_examples(task, part, local_root)
    return out


def task_baselines(task, local_root, languages=("en",)) -> dict:
    """The family's baselines on a registry task (toy twin or real data in the Hub schema)."""
    from xstilts.core.registry import get_family

    exs = task_examples(task, local_root, languages)
    train = exs.pop("train")
    return get_family(task.family).baselines(task, train, exs)

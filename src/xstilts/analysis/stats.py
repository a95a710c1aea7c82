"""The statistics of the study: per-example scores, the paired bootstrap, intervals, p-values.

One owner: the gains and score tables (``analysis/gains.py``), the controls section and the
findings of the report all take their intervals from here.

Per-example scores (:class:`ExampleScores`)
    A metric is a function of column sums of per-example *sufficient statistics*: accuracy,
    per-question EM/F1 and per-query AP are means of one column; seqeval F1 is
    ``2 tp / (predicted + gold chunks)`` of three columns (so a resample recomputes the corpus
    F1, never a mean of per-sentence F1s); word accuracy a ratio of two.  Each family builds
    them from a submission file and its labels (``Family.example_scores``).

The bootstrap (:func:`replicate_scores`, :func:`interval`)
    ``B`` replicates; in each, the test examples of every language are drawn with replacement
    *once* and the same draw scores every cell of the target (pairing: all cells see the same
    test sample).  The seed level: the mean over ``n`` seeds of a cell (or of a paired per-seed
    difference) gets a Student-t draw ``s / sqrt(n) * t(n - 1)`` with ``s`` the standard
    deviation over seeds of the observed values.  A nonparametric resample of 3 seeds never
    leaves the range of the 3 values and so understates seed-to-seed variance; the t draw is
    the seed interval of a Student-t test and with noise-free examples the interval is exactly
    that.  One seed: no seed term (the interval covers test-set noise only, and says so).
    Interval: percentiles of the replicates.  p-value (two-sided, of "no difference"):
    ``2 min(P*(g <= 0), P*(g >= 0))`` with add-one smoothing, the inversion of the percentile
    interval (p < 1 - confidence exactly when the interval excludes 0).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

from xstilts.core.errors import InputError

__all__ = ["ExampleScores", "StatsError", "interval", "p_value", "replicate_scores", "rng_for",
           "seed_term", "verdict_word"]


class StatsError(InputError, ValueError):
    """Per-example scores that cannot be used (empty, misaligned, not matching eval.json)."""


@dataclass(frozen=True)
class ExampleScores:
    """Per-example sufficient statistics of a metric (``stats``: examples x columns).

    ``kind``: ``mean`` (1 column: the metric is its mean), ``ratio`` (2: sum / sum) or ``f1``
    (3: true positives, predicted, gold -> ``2 tp / (predicted + gold)``, 0 when nothing was
    predicted nor expected, as seqeval)."""

    stats: np.ndarray
    kind: str = "mean"
    #: example ids when the examples are not one per label line (BUCC: source sentences of gold
    #: or mined pairs, which differ between cells); None: positional, the label file's order
    ids: tuple | None = None

    WIDTH = {"mean": 1, "ratio": 2, "f1": 3}

    def __post_init__(self):
        s = np.asarray(self.stats, dtype=np.float64)
        if s.ndim == 1:
            s = s[:, None]
        if self.kind not in self.WIDTH or s.shape[1] != self.WIDTH[self.kind]:
            raise StatsError(f"example scores of kind {self.kind!r} need {self.WIDTH.get(self.kind)} "
                             f"columns, got shape {s.shape}")
        if len(s) == 0:
            raise StatsError("no examples to score")
        if self.ids is not None and len(self.ids) != len(s):
            raise StatsError(f"{len(self.ids)} example ids for {len(s)} examples")
        object.__setattr__(self, "stats", s)

    def aligned(self, ids) -> "ExampleScores":
        """The statistics on the example ids ``ids``; an id this cell has no row for adds
        nothing (allowed for sums of counts, ``f1`` and ``ratio``, not for means)."""
        if self.ids is None or list(self.ids) == list(ids):
            return self
        if self.kind == "mean":
            raise StatsError("per-example means cannot be aligned on other example ids")
        row = {i: k for k, i in enumerate(self.ids)}
        out = np.zeros((len(ids), self.stats.shape[1]))
        for k, i in enumerate(ids):
            if i in row:
                out[k] = self.stats[row[i]]
        return ExampleScores(out, self.kind, tuple(ids))

    @classmethod
    def mean(cls, values) -> "ExampleScores":
        return cls(np.asarray(values, dtype=np.float64)[:, None], "mean")

    @property
    def n(self) -> int:
        return len(self.stats)

    def value_of(self, sums: np.ndarray, counts: np.ndarray | float) -> np.ndarray:
        """The metric from column sums ``(..., k)``; ``counts``: examples behind each sum."""
        if self.kind == "mean":
            return sums[..., 0] / counts
        if self.kind == "ratio":
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(sums[..., 1] > 0, sums[..., 0] / np.where(sums[..., 1] > 0, sums[..., 1], 1), 0.0)
        den = sums[..., 1] + sums[..., 2]
        return np.where(den > 0, 2 * sums[..., 0] / np.where(den > 0, den, 1), 0.0)

    @property
    def value(self) -> float:
        """The metric on every example (the number eval.json reports)."""
        return float(self.value_of(self.stats.sum(0), self.n))

    def resampled(self, counts: np.ndarray) -> np.ndarray:
        """The metric under resampling weights ``counts`` (replicates x examples)."""
        return self.value_of(counts @ self.stats, counts.sum(1))


def rng_for(seed: int, *keys: str) -> np.random.Generator:
    """A generator that depends only on ``seed`` and the keys (reruns give the same numbers)."""
    return np.random.default_rng([int(seed)] + [zlib.crc32(k.encode()) for k in keys])


def replicate_scores(cells: dict, n_resamples: int, rng: np.random.Generator, block: int = 250) -> dict:
    """Bootstrap replicates of every cell's per-language scores, all cells of one target sharing
    each replicate's draw of test examples.

    Args:
        cells: ``{key: {language: ExampleScores}}``; the examples of a language must be the
            same (same count, same order) in every cell.
    Returns:
        ``{key: {language: array (n_resamples,)}}``.
    """
    langs = sorted({lang for per in cells.values() for lang in per})
    out = {key: {} for key in cells}
    for lang in langs:
        having = [k for k, per in cells.items() if lang in per]
        scores = {k: cells[k][lang] for k in having}
        if any(s.ids is not None for s in scores.values()):
            ids = list(dict.fromkeys(i for s in scores.values() for i in (s.ids or ())))
            scores = {k: s.aligned(ids) for k, s in scores.items()}
        sizes = {s.n for s in scores.values()}
        if len(sizes) != 1:
            raise StatsError(f"language {lang}: cells score different numbers of test examples "
                             f"({sorted(sizes)}); their predictions do not share one test set")
        n = sizes.pop()
        reps = {k: [] for k in having}
        p = np.full(n, 1.0 / n)
        for start in range(0, n_resamples, block):
            counts = rng.multinomial(n, p, size=min(block, n_resamples - start)).astype(np.float64)
            for k in having:
                reps[k].append(scores[k].resampled(counts))
        for k in having:
            out[k][lang] = np.concatenate(reps[k])
    return out


def seed_term(observed_per_seed, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """The seed level of the bootstrap: ``sd / sqrt(n) * t(n - 1)`` draws (zeros for one seed)."""
    v = np.asarray(observed_per_seed, dtype=np.float64)
    if len(v) < 2:
        return np.zeros(n_resamples)
    sd = float(v.std(ddof=1))
    return sd / math.sqrt(len(v)) * rng.standard_t(len(v) - 1, size=n_resamples)


def interval(replicates: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile interval of bootstrap replicates."""
    a = (1 - confidence) / 2
    lo, hi = np.quantile(replicates, [a, 1 - a])
    return float(lo), float(hi)


def p_value(replicates: np.ndarray) -> float:
    """Two-sided bootstrap p-value of "the difference is 0" (inverts the percentile interval)."""
    b = len(replicates)
    below = (1 + int(np.sum(replicates <= 0))) / (b + 1)
    above = (1 + int(np.sum(replicates >= 0))) / (b + 1)
    return float(min(1.0, 2 * min(below, above)))


def verdict_word(low: float, high: float) -> str:
    """``distinguishable from noise`` when the interval excludes 0."""
    if math.isnan(low) or math.isnan(high):
        return "no interval"
    return "distinguishable from noise" if low > 0 or high < 0 else "not distinguishable from noise"

"""Metric functions that give the numbers of google-research/xtreme ``evaluate.py``.

Every function here is a re-implementation (not a copy) of one official function;
its docstring names the function it matches and the behaviour that matters for
equal numbers, including the official quirks that are kept on purpose.

Scale: every function returns *fractions* in [0, 1]. The official scorer reports
``100 * value``; :mod:`xstilts.analysis.score` does that multiplication, so the numbers it
prints are the official ones.

Families:
  classification / multiple choice / Tatoeba   :func:`accuracy`
  tagging (UD-POS, PAN-X)                       :func:`seqeval_prf` (+ :func:`seqeval_entities`)
  extractive QA: XQuAD, TyDiQA-GoldP            :func:`squad_em_f1`, :func:`squad_evaluate`
  extractive QA: MLQA                           :func:`mlqa_em_f1`, :func:`mlqa_evaluate`
  BUCC mining                                   :func:`bucc_prf`
  LAReQA                                        :func:`average_precision_at_k`, :func:`mean_average_precision_at_k`
  Mewsli-X                                      :func:`mewslix_map_at_k`
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from typing import Any, Callable, Hashable, Iterable, Mapping, Sequence

__all__ = [
    "accuracy",
    "squad_normalize",
    "squad_em_f1",
    "squad_evaluate",
    "MLQA_LANGUAGES",
    "mlqa_normalize",
    "mlqa_language",
    "mlqa_em_f1",
    "mlqa_evaluate",
    "seqeval_entities",
    "seqeval_prf",
    "bucc_prf",
    "average_precision_at_k",
    "mean_average_precision_at_k",
    "mewslix_map_at_k",
]


# --------------------------------------------------------------------------- accuracy
def accuracy(preds: Sequence[Any], golds: Sequence[Any]) -> float:
    """Fraction of positions where ``preds[i] == golds[i]``.

    Matches ``evaluate.accuracy`` (used for xnli, pawsx, xcopa, tatoeba): plain
    ``==`` on the values as read (strings for ``.tsv`` lines, JSON values for
    XCOPA's ``.jsonl``), so ``"1" != 1``. The official function zips the lists and
    divides by ``len(predictions)`` after ``evaluate_one_task`` asserted equal
    lengths; here unequal lengths and empty input raise ``ValueError`` instead.
    """
    if len(preds) != len(golds):
        raise ValueError(f"accuracy: {len(preds)} predictions but {len(golds)} gold labels")
    if not preds:
        raise ValueError("accuracy: no examples")
    return sum(1 for p, g in zip(preds, golds) if p == g) / len(preds)


# --------------------------------------------------------------------------- SQuAD v1.1
_SQUAD_PUNCT = frozenset(string.punctuation)
_EN_ARTICLES = re.compile(r"\b(a|an|the)\b")


def squad_normalize(text: str) -> str:
    """SQuAD v1.1 answer normalisation (``third_party/evaluate_squad.normalize_answer``).

    Order as official: lower-case, drop ASCII ``string.punctuation``, replace the
    English articles a/an/the (word-bounded) with a space, collapse whitespace.
    Used for XQuAD and TyDiQA-GoldP whatever the language.
    """
    text = "".join(ch for ch in text.lower() if ch not in _SQUAD_PUNCT)
    text = _EN_ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _token_f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    # evaluate_squad.f1_score / evaluate_mlqa.f1_score: bag-of-tokens overlap; 0 when
    # nothing is shared (also when both sides normalise to empty).
    same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _em_f1(pred: str, golds: Sequence[str], norm: Callable[[str], str]) -> tuple[float, float]:
    if not golds:
        raise ValueError("a question has no gold answers")
    p = norm(pred)
    p_tokens = p.split()
    em = max(1.0 if p == norm(g) else 0.0 for g in golds)
    f1 = max(_token_f1(p_tokens, norm(g).split()) for g in golds)
    return em, f1


def squad_em_f1(pred: str, golds: Sequence[str]) -> tuple[float, float]:
    """(exact match, token F1) of one prediction, each the max over the gold answers.

    Matches ``metric_max_over_ground_truths`` applied to ``exact_match_score`` and
    ``f1_score`` of ``third_party/evaluate_squad.py`` (SQuAD v1.1 script).
    """
    return _em_f1(pred, golds, squad_normalize)


def _qa_evaluate(dataset: Any, predictions: Mapping[str, str],
                 per_question: Callable[[str, Sequence[str]], tuple[float, float]]) -> dict:
    articles = dataset["data"] if isinstance(dataset, Mapping) and "data" in dataset else dataset
    em_sum = f1_sum = 0.0
    total = unanswered = 0
    for article in articles:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                total += 1
                if qa["id"] not in predictions:
                    unanswered += 1  # official: message on stderr, scores 0
                    continue
                em, f1 = per_question(predictions[qa["id"]], [a["text"] for a in qa["answers"]])
                em_sum += em
                f1_sum += f1
    if total == 0:
        raise ValueError("QA evaluation: the gold data holds no questions")
    return {"exact_match": em_sum / total, "f1": f1_sum / total, "n": total,
            "n_unanswered": unanswered}


def squad_evaluate(dataset: Any, predictions: Mapping[str, str]) -> dict:
    """Dataset-level SQuAD v1.1 EM/F1 (``evaluate_squad.evaluate``; evaluate.py ``squad_em_f1``).

    ``dataset``: the SQuAD JSON (``{"data": [...]}``) or its ``data`` list;
    ``predictions``: ``{question id: answer text}``. Every gold question counts;
    an unanswered one scores 0 (counted in ``n_unanswered``); predictions for ids
    not in the gold data are ignored, as officially. Returns fractions plus counts.
    """
    return _qa_evaluate(dataset, predictions, squad_em_f1)


# --------------------------------------------------------------------------- MLQA
MLQA_LANGUAGES = ("en", "es", "hi", "vi", "de", "ar", "zh")
_MLQA_WHITESPACE = frozenset({"en", "es", "hi", "vi", "de", "ar"})
_MLQA_MIXED = frozenset({"zh"})
_MLQA_ARTICLES: dict[str, re.Pattern | None] = {
    "en": _EN_ARTICLES,
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "hi": None,
    # của là cái chiếc những (precomposed code points)
    "vi": re.compile("\\b(c\u1ee7a|l\u00e0|c\u00e1i|chi\u1ebfc|nh\u1eefng)\\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    # Official pattern is '\sال^|ال': the first branch can never match ('^' after
    # consumed characters), so every occurrence of ال becomes a space.
    "ar": re.compile("\u0627\u0644"),
    "zh": None,
}
_CJK = re.compile("[\u4e00-\u9fa5]")


def _is_mlqa_punct(ch: str) -> bool:
    # evaluate_mlqa.PUNCT: every code point of a Unicode "P*" category, plus ASCII
    # string.punctuation (which adds the symbols $+<=>^`|~).
    return ch in _SQUAD_PUNCT or unicodedata.category(ch).startswith("P")


def _mixed_segmentation(text: str) -> list[str]:
    # evaluate_mlqa.mixed_segmentation: each CJK ideograph (U+4E00..U+9FA5) or
    # punctuation char is its own token; runs in between are whitespace-split.
    tokens: list[str] = []
    run = ""
    for ch in text:
        if _CJK.search(ch) or _is_mlqa_punct(ch):
            tokens.extend(run.split())
            run = ""
            tokens.append(ch)
        else:
            run += ch
    tokens.extend(run.split())
    return tokens


def mlqa_normalize(text: str, lang: str) -> str:
    """MLQA answer normalisation (``third_party/evaluate_mlqa.normalize_answer``).

    Lower-case; drop Unicode punctuation (category P*) and ASCII punctuation; drop
    the language's articles (en a/an/the; es un/una/unos/unas/el/la/los/las;
    de ein/.../des; vi của/là/cái/chiếc/những; ar every 'ال'; hi, zh none);
    tokenise (whitespace, or character-level for CJK ideographs in zh); join with
    single spaces. ``lang`` must be one of MLQA's 7 context languages, else
    ``ValueError`` (the official script raises too).
    """
    if lang not in _MLQA_ARTICLES:
        raise ValueError(f"MLQA normalisation: unknown language {lang!r} "
                         f"(MLQA languages: {', '.join(MLQA_LANGUAGES)})")
    text = "".join(ch for ch in text.lower() if not _is_mlqa_punct(ch))
    pattern = _MLQA_ARTICLES[lang]
    if pattern is not None:
        text = pattern.sub(" ", text)
    tokens = _mixed_segmentation(text) if lang in _MLQA_MIXED else text.split()
    return " ".join(t for t in tokens if t.strip())


_LOCAL_USE = re.compile(r"^q[a-t][a-z]$")  # ISO 639-2 local-use codes: the toy languages


def mlqa_language(lang: str) -> str:
    """The language whose MLQA rules normalise ``lang``: itself for MLQA's languages; for the
    toy languages (ISO 639-2 local-use codes ``qaa``-``qtz``, never real languages) the
    whitespace tokenisation without articles (the rules of ``hi``); other codes are returned
    unchanged, so :func:`mlqa_normalize` still rejects them."""
    return "hi" if lang not in _MLQA_ARTICLES and _LOCAL_USE.match(lang) else lang


def mlqa_em_f1(pred: str, golds: Sequence[str], lang: str) -> tuple[float, float]:
    """(exact match, token F1) of one prediction with MLQA's normalisation for ``lang``.

    Matches ``metric_max_over_ground_truths`` over ``exact_match_score`` / ``f1_score``
    of ``third_party/evaluate_mlqa.py``.
    """
    return _em_f1(pred, golds, lambda s: mlqa_normalize(s, lang))


def mlqa_evaluate(dataset: Any, predictions: Mapping[str, str], lang: str) -> dict:
    """Dataset-level MLQA EM/F1 (``evaluate_mlqa.evaluate``; evaluate.py ``mlqa_em_f1``).

    Same loop as :func:`squad_evaluate` with :func:`mlqa_normalize` for ``lang``.
    """
    mlqa_normalize("", lang)  # fail fast on an unknown language
    return _qa_evaluate(dataset, predictions, lambda p, g: mlqa_em_f1(p, g, lang))


# --------------------------------------------------------------------------- seqeval
def _split_tag(tag: str) -> tuple[str, str]:
    # seqeval>=1.0 default (non-strict, prefix) mode: the chunk tag is the first
    # character and the type is what follows the first '-' of the rest (or the rest
    # itself when it has no '-'); an empty type becomes '_'. So 'B-PER' -> ('B',
    # 'PER'), 'O' -> ('O', '_'), and a POS tag 'NOUN' -> ('N', 'OUN').
    head, rest = tag[:1], tag[1:]
    kind = rest.split("-", 1)[-1] or "_"
    return head, kind


def _chunk_ends(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    if prev_tag in ("E", "S"):
        return True
    if prev_tag in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev_tag not in ("O", ".") and prev_type != type_


def _chunk_starts(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    if tag in ("B", "S"):
        return True
    if tag in ("E", "I") and prev_tag in ("E", "S", "O"):
        return True
    return tag not in ("O", ".") and prev_type != type_


def seqeval_entities(tags: Sequence[str] | Sequence[Sequence[str]]) -> list[tuple[str, int, int]]:
    """Chunks ``(type, start, end)`` (inclusive end) as ``seqeval.metrics.sequence_labeling.get_entities``.

    Behaviour of seqeval>=1.0 in its default mode (what ``evaluate.py``'s
    ``f1_score(labels, predictions)`` uses, no ``mode``/``scheme``): conlleval-like
    IOBES chunking where an ``I-`` after ``O`` or after another type starts a
    chunk. A list of sentences is flattened with an ``'O'`` appended after each
    sentence, so offsets run over the whole corpus. Tags that are not IOB (UD
    POS tags) are chunked by the same rules, e.g. ``NOUN NOUN`` is one chunk of
    type ``OUN``; this is how XTREME scores UD-POS and it is kept on purpose.
    """
    if any(isinstance(t, (list, tuple)) for t in tags):
        flat: list[str] = []
        for sentence in tags:
            flat.extend(sentence)
            flat.append("O")
    else:
        flat = list(tags)
    chunks: list[tuple[str, int, int]] = []
    prev_tag, prev_type, begin = "O", "", 0
    for i, label in enumerate(flat + ["O"]):
        tag, type_ = _split_tag(label)
        if _chunk_ends(prev_tag, tag, prev_type, type_):
            chunks.append((prev_type, begin, i - 1))
        if _chunk_starts(prev_tag, tag, prev_type, type_):
            begin = i
        prev_tag, prev_type = tag, type_
    return chunks


def seqeval_prf(golds: Sequence[Sequence[str]], preds: Sequence[Sequence[str]]) -> dict:
    """Micro precision / recall / F1 over chunks, as seqeval's ``precision_score``,
    ``recall_score`` and ``f1_score`` (defaults) that evaluate.py's ``f1`` calls.

    ``golds``/``preds``: lists of sentences of tags. A chunk counts as correct when
    the same (type, start, end) is in both sets; each score is 0 where its
    denominator is 0 (seqeval's ``zero_division='warn'`` acts as 0). Sentence count
    or length mismatch raises ``ValueError`` naming the first differing sentence
    (seqeval raises on inconsistent lengths too).
    """
    if len(golds) != len(preds):
        raise ValueError(f"seqeval: {len(golds)} gold sentences but {len(preds)} predicted")
    for i, (g, p) in enumerate(zip(golds, preds)):
        if len(g) != len(p):
            raise ValueError(f"seqeval: sentence {i + 1} has {len(g)} gold tags "
                             f"but {len(p)} predicted tags")
    gold_set = set(seqeval_entities([list(s) for s in golds]))
    pred_set = set(seqeval_entities([list(s) for s in preds]))
    tp = len(gold_set & pred_set)
    precision = tp / len(pred_set) if pred_set else 0.0
    recall = tp / len(gold_set) if gold_set else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


# --------------------------------------------------------------------------- BUCC
def bucc_prf(pred_lines: Iterable[str], gold_lines: Iterable[str]) -> dict:
    """Precision / recall / F1 of mined pairs, as evaluate.py ``bucc_f1``.

    Each line (already stripped, as ``read_label`` does) is split on tabs into a
    tuple (e.g. ``de-000001<TAB>en-000042``); both sides become sets of tuples, so
    duplicate lines count once (an empty line is the tuple ``('',)``, as
    officially). All three are 0 when nothing is correct.
    """
    gold = {tuple(line.split("\t")) for line in gold_lines}
    pred = {tuple(line.split("\t")) for line in pred_lines}
    correct = len(gold & pred)
    if correct == 0:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    precision = correct / len(pred)
    recall = correct / len(gold)
    return {"precision": precision, "recall": recall,
            "f1": 2 * precision * recall / (precision + recall)}


# --------------------------------------------------------------------------- retrieval
def average_precision_at_k(targets: Iterable[Hashable], ranked: Sequence[Hashable],
                           k: int | None = 20) -> float:
    """AP@k of one query, as ``third_party/utils_lareqa.average_precision_at_k``.

    Walk the top-``k`` ranked candidates; at each relevant one not seen earlier in
    the list add (hits so far / rank). Divide by ``min(len(targets), k)`` (or by
    ``len(targets)`` when ``k`` is falsy). ``targets`` must not be empty.
    """
    targets = set(targets)
    if not targets:
        raise ValueError("average_precision_at_k: a query has no relevant candidates")
    top = list(ranked[:k]) if k else list(ranked)
    seen: set = set()
    hits = 0
    score = 0.0
    for rank, cand in enumerate(top, start=1):
        if cand in targets and cand not in seen:
            hits += 1
            score += hits / rank
        seen.add(cand)
    return score / (min(len(targets), k) if k else len(targets))


def mean_average_precision_at_k(golds: Mapping[Hashable, Iterable[Hashable]],
                                preds: Mapping[Hashable, Sequence[Hashable]],
                                k: int | None = 20) -> float:
    """mAP@k over queries (LAReQA, XTREME-R: ``utils_lareqa.mean_avg_prec_at_k``, k=20).

    ``golds``: query id -> relevant candidate ids; ``preds``: query id -> ranked
    candidate ids. Every gold query counts; a query without a ranking scores 0.
    """
    if not golds:
        raise ValueError("mean_average_precision_at_k: no queries")
    return sum(average_precision_at_k(t, preds.get(q, []), k) for q, t in golds.items()) / len(golds)


def mewslix_map_at_k(golds: Mapping[str, Sequence[str]], preds: Mapping[str, Sequence[str]],
                     k: int = 20) -> float:
    """Mewsli-X mAP@k (= MRR@k, one gold entity per mention), as
    ``third_party/utils_mewslix.evaluate`` called by evaluate.py ``mewslix_map20``.

    ``golds``: example id -> singleton list with the gold entity id (stripped, as
    officially); ``preds``: example id -> ranked entity ids, truncated to ``k``.
    Reciprocal rank of the first match, 0 if none or if the id has no
    predictions; mean over gold examples (0.0 when there are none, as officially).
    """
    total = 0.0
    for ex_id, labels in golds.items():
        gold = labels[0].strip()
        for rank, cand in enumerate(list(preds.get(ex_id, []))[:k], start=1):
            if cand == gold:
                total += 1.0 / rank
                break
    return total / len(golds) if golds else 0.0

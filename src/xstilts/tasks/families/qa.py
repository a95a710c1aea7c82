"""Extractive question answering (SQuAD v1.1/v2, XQuAD, MLQA, TyDiQA-GoldP): one code path.

Hub schema (every QA dataset of the study): ``id, [title], context, question,
answers{text: [...], answer_start: [...]}``; an empty ``answers.text`` is an unanswerable
question (SQuAD v2).

Features follow XTREME's ``run_squad`` (``squad_convert_examples_to_features``):

* the question comes first and is cut to ``max_query_length`` tokens (64); only the context is
  windowed: ``<s> question </s></s> context-window </s>`` of at most ``max_length`` tokens, the
  window start moving by ``doc_stride`` tokens (XTREME's meaning of ``doc_stride``: the step
  between windows, not the overlap) until the window reaches the end of the context;
* each window keeps the character offsets of its context tokens (``-1`` elsewhere) and the
  training label is the (start, end) token pair of the first gold answer when the answer lies
  entirely inside the window, else (0, 0), the ``<s>`` position (as ``run_squad`` does for
  windows without the answer and for unanswerable questions);
* decoding (``outputs``) looks at every window of a question at once: the ``n_best`` start and
  end logits of each window, spans inside the context with ``end >= start`` and at most
  ``max_answer_length`` tokens, score = start + end logit; the best span over all windows wins
  and its text is cut from the context with the offsets.  With ``null_answers`` (SQuAD v2) the
  null score (the smallest ``<s>`` start + end logit over the windows) beats every span score
  below it and the answer is ``""``;
* scores are XTREME's: SQuAD EM/F1 (max over the gold answers), MLQA's language-aware
  normalisation for ``mlqa_em_f1`` tasks; the headline is (EM + F1) / 2 (XTREME's
  ``avg_metric`` for QA), EM and F1 are kept.  Fractions in 0..1.
"""

from __future__ import annotations

import json
import re
from collections import Counter

import numpy as np
import pyarrow as pa

from xstilts.core.lazy import lazy
from xstilts.tasks.families import ConversionError, Shared, pad, require

torch = lazy("torch")
nn = lazy("torch.nn")
M = lazy("xstilts.analysis.metrics")  # scoring only: the labels stage writes gold files without it

FEATURE_SCHEMA = pa.schema([
    ("id", pa.string()),  # feature id: <example id>#<window>
    ("example_id", pa.string()),
    ("seqs", pa.list_(pa.list_(pa.int32()))),
    ("start", pa.int64()),  # answer start token in the window (0: no answer here)
    ("end", pa.int64()),
    ("offset_start", pa.list_(pa.int32())),  # character span of each token in the context;
    ("offset_end", pa.list_(pa.int32())),  # -1 for question and special tokens
    ("context", pa.string()),
    ("answers", pa.list_(pa.string())),  # gold answer texts ([] = unanswerable)
])
MAX_QUERY_LENGTH = 64  # XTREME run_squad default
NEG = -1e4


# ---------------------------------------------------------------------------- conversion
def _squad(row, task, where):
    """Every QA dataset of the study has SQuAD's Hub schema (XQuAD without ``title``)."""
    require(row, ("id", "context", "question", "answers"), where)
    ans = row["answers"]
    if not isinstance(ans, dict) or "text" not in ans or "answer_start" not in ans:
        raise ConversionError(f"{where}: 'answers' must be {{text: [...], answer_start: [...]}}, "
                              f"got {ans!r}")
    texts, starts = list(ans["text"] or []), [int(s) for s in (ans["answer_start"] or [])]
    if len(texts) != len(starts):
        raise ConversionError(f"{where}: {len(texts)} answer texts but {len(starts)} answer_start")
    context = row["context"]
    for t, s in zip(texts, starts):
        if s < 0 or context[s:s + len(t)] != t:
            raise ConversionError(f"{where} (id {row['id']}): answer {t!r} is not at character "
                                  f"{s} of the context (found {context[s:s + len(t)]!r})")
    return {"id": str(row["id"]), "context": context, "question": row["question"],
            "answers": texts, "answer_starts": starts}


# ---------------------------------------------------------------------------- windows
def windows(n_context: int, budget: int, doc_stride: int) -> list[tuple[int, int]]:
    """``(start, length)`` of the context windows (run_squad's ``_DocSpan`` loop)."""
    if budget <= 0:
        raise ValueError(f"no room for the context: the question and special tokens fill "
                         f"max_length (budget {budget})")
    out, start = [], 0
    while True:
        length = min(n_context - start, budget)
        out.append((start, length))
        if start + length >= n_context:
            return out
        start += min(length, doc_stride)


def token_span(offsets: list[tuple[int, int]], char_start: int, char_end: int) -> tuple[int, int]:
    """First and last context token overlapping the characters ``[char_start, char_end)``."""
    first = next(i for i, (s, e) in enumerate(offsets) if e > char_start)
    last = max(i for i, (s, e) in enumerate(offsets) if s < char_end)
    return first, max(first, last)


class QA(Shared):
    name = "qa"
    converters = {"squad": _squad}
    feature_schema = FEATURE_SCHEMA
    options = ("doc_stride", "max_answer_length", "n_best", "max_query_length", "null_answers")
    head_per_token = True

    # ---- data -----------------------------------------------------------------------------
    def encode(self, tokenizer, examples, max_length: int, doc_stride: int = 128,
               max_query_length: int = MAX_QUERY_LENGTH, **_) -> list[dict]:
        """The tokenizer's own pair layout (``<s> q </s></s> c </s>`` for XLM-R) is read off one
        untruncated encoding per example (``sequence_ids``), then the context is windowed."""
        enc = tokenizer([ex["question"] for ex in examples], [ex["context"] for ex in examples],
                        truncation=False, return_offsets_mapping=True, verbose=False)
        feats = []
        for k, ex in enumerate(examples):
            ids, seq_ids = enc["input_ids"][k], enc.sequence_ids(k)
            q_pos = [i for i, s in enumerate(seq_ids) if s == 0]
            c_pos = [i for i, s in enumerate(seq_ids) if s == 1]
            if not q_pos or not c_pos:
                raise ConversionError(f"example {ex['id']}: empty question or context after "
                                      f"tokenization")
            head = ids[:q_pos[0]] + ids[q_pos[0]:q_pos[-1] + 1][:int(max_query_length)]
            head += ids[q_pos[-1] + 1:c_pos[0]]
            tail = ids[c_pos[-1] + 1:]
            c = ids[c_pos[0]:c_pos[-1] + 1]
            offs = [tuple(o) for o in enc["offset_mapping"][k][c_pos[0]:c_pos[-1] + 1]]
            prefix = len(head)
            ans = None
            if ex["answers"]:
                s = ex["answer_starts"][0]
                try:
                    ans = token_span(offs, s, s + len(ex["answers"][0]))
                except (StopIteration, ValueError):
                    raise ConversionError(f"example {ex['id']}: no context token covers the "
                                          f"answer {ex['answers'][0]!r}") from None
            budget = int(max_length) - prefix - len(tail)
            if budget <= 0:
                raise ConversionError(f"example {ex['id']}: its question and special tokens take "
                                      f"{prefix + len(tail)} of the max_length {max_length} tokens, "
                                      f"leaving none for the context (raise max_length or lower "
                                      f"max_query_length, now {max_query_length})")
            for w, (ws, wl) in enumerate(windows(len(c), budget, int(doc_stride))):
                seq = head + c[ws:ws + wl] + tail
                off_s = [-1] * len(seq)
                off_e = [-1] * len(seq)
                for j in range(wl):
                    off_s[prefix + j], off_e[prefix + j] = offs[ws + j]
                start = end = 0
                if ans is not None and ws <= ans[0] and ans[1] < ws + wl:
                    start, end = prefix + ans[0] - ws, prefix + ans[1] - ws
                feats.append({"id": f"{ex['id']}#{w}", "example_id": str(ex["id"]), "seqs": [seq],
                              "start": start, "end": end, "offset_start": off_s,
                              "offset_end": off_e, "context": ex["context"],
                              "answers": list(ex["answers"])})
        return feats

    # ---- model ----------------------------------------------------------------------------
    def make_head(self, hidden, task, dropout=0.1):
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, 2))

    def collate(self, feats, pad_id):
        return {**pad(feats, pad_id),
                "labels": torch.tensor([[f["start"], f["end"]] for f in feats], dtype=torch.long)}

    def logits(self, head, hidden, mask, batch_shape):
        """(batch, length, 2): start and end logits, padding at -1e4."""
        out = head(hidden).view(batch_shape[0], -1, 2)
        return out.masked_fill(mask.view(batch_shape[0], -1, 1) == 0, NEG)

    def loss(self, logits, labels):
        ce = nn.functional.cross_entropy
        return (ce(logits[..., 0], labels[:, 0]) + ce(logits[..., 1], labels[:, 1])) / 2

    def predict(self, logits):
        # per feature: (2, length) float32 array of start and end logits (compact: MLQA's English
        # test set alone has ~12k windows of 384 tokens)
        return list(logits.detach().float().cpu().numpy().transpose(0, 2, 1))

    # ---- decoding -------------------------------------------------------------------------
    def outputs(self, task, preds, feats, max_answer_length: int = 30, n_best: int = 20,
                null_answers: bool = False, **_):
        ids, by_example = [], {}
        for p, f in zip(preds, feats):
            if f["example_id"] not in by_example:
                ids.append(f["example_id"])
                by_example[f["example_id"]] = []
            by_example[f["example_id"]].append((p, f))
        outs = [decode(by_example[i], int(max_answer_length), int(n_best), bool(null_answers))
                for i in ids]
        return ids, outs

    def gold(self, task, examples, **options):
        return [str(ex["id"]) for ex in examples], [list(ex["answers"]) for ex in examples]

    def score(self, task, ids, outputs, feats, lang):
        gold = {f["example_id"]: f["answers"] for f in feats}
        em, f1 = [], []
        for i, pred in zip(ids, outputs):
            e, f = answer_em_f1(task, pred, gold[i], lang)
            em.append(e)
            f1.append(f)
        if not em:
            return {task.metric: float("nan"), "exact_match": float("nan"), "f1": float("nan"), "n": 0}
        e, f = float(np.mean(em)), float(np.mean(f1))
        return {task.metric: (e + f) / 2, "exact_match": e, "f1": f, "n": len(em)}

    def example_scores(self, task, preds, golds, lang, **options):
        """One example per gold question: (EM + F1) / 2, the headline; an unanswered question
        scores 0 (as the official script)."""
        from xstilts.analysis.stats import ExampleScores

        values = []
        for qid, answers in golds:
            if qid not in preds:
                values.append(0.0)
                continue
            e, f = answer_em_f1(task, preds[qid], answers, lang)
            values.append((e + f) / 2)
        return ExampleScores.mean(values)

    # ---- trivial baselines ----------------------------------------------------------------
    def baselines(self, task, train, evals, **options):
        length = answer_length(train)
        return {"overlap_span": {lang: _score_texts(task, lang, exs,
                                                    [overlap_answer(ex, length) for ex in exs])
                                 for lang, exs in evals.items()}}

    def chance(self, task, train):
        return 0.0

    # ---- output ---------------------------------------------------------------------------
    def write_predictions(self, task, outputs, ids, out_dir, lang, **options):
        """``test-<lang>.json``: ``{id: answer}`` (predictions), or, for gold outputs (lists of
        answer texts, see ``gold``), the SQuAD JSON that ``xstilts score`` reads as labels."""
        if outputs and isinstance(outputs[0], list):
            qas = [{"id": i, "answers": [{"text": t} for t in golds]} for i, golds in zip(ids, outputs)]
            doc = {"version": f"xstilts-{task.name}", "data": [{"title": task.name,
                                                                "paragraphs": [{"qas": qas}]}]}
        else:
            doc = dict(zip(ids, outputs))
        return self.write_submission(task, out_dir, lang, json.dumps(doc, ensure_ascii=False, indent=1) + "\n")


def decode(windows_of_example, max_answer_length: int, n_best: int, null_answers: bool) -> str:
    """The best answer text over every window of one question (see the module docstring)."""
    best, best_text, null = -np.inf, "", np.inf
    for (start_logits, end_logits), f in windows_of_example:
        n = len(f["seqs"][0])
        s_log, e_log = np.asarray(start_logits[:n]), np.asarray(end_logits[:n])
        null = min(null, s_log[0] + e_log[0])
        off_s, off_e = f["offset_start"], f["offset_end"]
        for s in np.argsort(-s_log)[:n_best]:
            if off_s[s] < 0:
                continue
            for e in np.argsort(-e_log)[:n_best]:
                if off_e[e] < 0 or e < s or e - s + 1 > max_answer_length:
                    continue
                score = s_log[s] + e_log[e]
                if score > best:
                    best, best_text = score, f["context"][off_s[s]:off_e[e]]
    if null_answers and null > best:
        return ""
    return best_text.strip()


def answer_em_f1(task, pred: str, golds: list[str], lang: str) -> tuple[float, float]:
    """XTREME's per-question EM/F1: MLQA normalisation for ``mlqa_em_f1`` tasks (the toy
    languages get its whitespace rules without articles, ``metrics.mlqa_language``), SQuAD's
    otherwise.  An unanswerable question (no gold) counts as right only for the answer ``""``
    (the SQuAD v2 rule)."""
    if not golds:
        return (1.0, 1.0) if pred == "" else (0.0, 0.0)
    if task.metric == "mlqa_em_f1":
        return M.mlqa_em_f1(pred, golds, M.mlqa_language(lang))
    return M.squad_em_f1(pred, golds)


def _score_texts(task, lang, examples, preds) -> float:
    pairs = [answer_em_f1(task, p, ex["answers"], lang) for ex, p in zip(examples, preds)]
    return float(np.mean([(e + f) / 2 for e, f in pairs])) if pairs else float("nan")


# ---------------------------------------------------------------------------- baseline
_WORD = re.compile(r"\w+", re.UNICODE)
_SENTENCE = re.compile(r"[^.!?。！？]+[.!?。！？]*")


def answer_length(train: list[dict]) -> int:
    """The most frequent gold answer length in words in the training set."""
    lengths = Counter(len(_WORD.findall(ex["answers"][0])) for ex in train if ex["answers"])
    return max(lengths.most_common(1)[0][0], 1) if lengths else 1


def overlap_answer(ex: dict, length: int) -> str:
    """Non-neural baseline: in the context sentence sharing most words with the question, the
    ``length``-word span with the most words absent from the question (the leftmost on ties)."""
    qwords = {w.lower() for w in _WORD.findall(ex["question"])}
    context = ex["context"]
    best_sent, best_overlap = None, -1
    for m in _SENTENCE.finditer(context):
        words = list(_WORD.finditer(m.group()))
        overlap = len({w.group().lower() for w in words} & qwords)
        if words and overlap > best_overlap:
            best_sent, best_overlap = (m.start(), words), overlap
    if best_sent is None:
        return ""
    base, words = best_sent
    best, span = -1, ""
    for i in range(max(len(words) - length + 1, 1)):
        cand = words[i:i + length]
        novel = sum(w.group().lower() not in qwords for w in cand)
        if novel > best:
            best = novel
            span = context[base + cand[0].start():base + cand[-1].end()]
    return span


FAMILY = QA()

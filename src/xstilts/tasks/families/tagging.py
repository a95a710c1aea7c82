"""Token tagging (UD-POS, PAN-X/WikiANN NER, CCG supertagging): one tag per word.

Words to sub-words (as google-research/xtreme ``utils_tag.py``): every word is tokenized on
its own; the first sub-token of a word carries the word's tag, the other sub-tokens are ignored
by the loss (label ``-100``).  A word whose tokenization is empty (an empty string, a lone
control character) is given the tokenizer's unknown token, so every word has a first sub-token
and a prediction: no word is dropped and none is invented.

Long sentences are cut into chunks of at most ``max_length`` tokens (special tokens included)
at word boundaries; each chunk after the first repeats up to ``chunk_context`` tokens of the
words before it as left context.  Every word is *owned* (labelled, scored, predicted) by
exactly one chunk, so a sentence of any length is fully tagged.  A single word longer than a
whole chunk keeps its first ``max_length - 2`` sub-tokens (its first sub-token, which carries
its tag, is always kept).  ``outputs`` stitches the chunks of a sentence back together; a word
no chunk predicts (only possible when a feature is missing) gets the *fallback tag* ``O``
(tag sets with it), else ``X`` (UPOS "other"), else the first tag of the set, and is counted
(``fallback_words`` in the scores).

Scores as XTREME ``evaluate.py``: seqeval micro F1 (``metrics.seqeval_prf``) for both UD-POS and
PAN-X (``task.metric == "f1"``; seqeval's chunking applied to UPOS tags, as the official script
does); word accuracy for tasks whose metric is ``accuracy`` (CCG).  Predictions: one tag per line,
a blank line after every sentence (the official ``read_tag`` format).

Open tag sets (CCG): the registry entry has no ``labels``; :meth:`Tagging.with_labels` collects
the sorted tag set of the English training set at the prepare step, the tokenized-cache manifest
stores it (``data.task_with_labels`` reads it back for training), and the checkpoint stores the
tag list of each head (``models.XstiltsModel``), so a saved head is rebuilt with its shape.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np
import pyarrow as pa

from xstilts.core.lazy import lazy
from xstilts.tasks.families import ConversionError, Shared, label_index, pad, require

torch = lazy("torch")
nn = lazy("torch.nn")
M = lazy("xstilts.analysis.metrics")  # scoring only: the labels stage writes gold files without it

IGNORE = -100
DEFAULT_CHUNK_CONTEXT = 64

TAG_SCHEMA = pa.schema([
    ("id", pa.string()),
    ("seqs", pa.list_(pa.list_(pa.int32()))),  # one sequence: <s> sub-tokens </s>
    ("labels", pa.list_(pa.int64())),  # per token: tag index on owned first sub-tokens, else -100
    ("word_index", pa.list_(pa.int32())),  # per token: the owned word it starts, else -1
    ("chunk", pa.int32()),  # chunk number within the sentence
    ("n_words", pa.int32()),  # words of the sentence
    ("tags", pa.list_(pa.string())),  # gold word tags (chunk 0 only; empty in later chunks)
])


# ---------------------------------------------------------------------------- converters
def _check_lengths(words, tags, where):
    if len(words) != len(tags):
        raise ConversionError(f"{where}: {len(words)} tokens but {len(tags)} tags")


def _class_tags(column: str):
    """Hub rows ``{tokens: [str], <column>: [class index or name]}`` (google/xtreme udpos.*, PAN-X.*)."""
    def convert(row, task, where):
        require(row, ("tokens", column), where)
        words = [str(w) for w in row["tokens"]]
        raw = list(row[column])
        _check_lengths(words, raw, where)
        ids = [label_index(t, task.labels, f"{where} token {j}") for j, t in enumerate(raw)]
        return {"id": where.rsplit(" ", 1)[-1], "words": words,
                "tags": [task.labels[i] for i in ids], "tag_ids": ids}
    return convert


def _tokens_tags(row, task, where):
    """``{tokens: "w1 w2 ...", tags: "t1 t2 ..."}`` rows of a ``tokens<TAB>tags`` file (CCG).
    Tags outside the task's tag set (dev supertags unseen in training) are kept as gold strings
    with tag id -1: never trained on, always scored as wrong."""
    require(row, ("tokens", "tags"), where)
    words, tags = row["tokens"].split(), row["tags"].split()
    _check_lengths(words, tags, where)
    index = {t: i for i, t in enumerate(task.labels)}
    return {"id": where.rsplit(" ", 1)[-1], "words": words, "tags": tags,
            "tag_ids": [index.get(t, -1) for t in tags]}


# ---------------------------------------------------------------------------- alignment
def chunk_words(lengths: list[int], capacity: int, context: int) -> list[tuple[int, int, int]]:
    """Chunks ``(start, own, end)`` over words with ``lengths`` sub-tokens (each 1..capacity):
    a chunk holds words ``start:end`` (at most ``capacity`` tokens) and owns ``own:end``; the
    words ``start:own`` are left context (at most ``context`` tokens).  Owned ranges partition
    the words; a sentence without words gives one empty chunk."""
    n = len(lengths)
    context = max(0, min(context, capacity // 2))
    chunks, own = [], 0
    while own < n or not chunks:
        start, used = own, 0
        while start > 0 and used + lengths[start - 1] <= context:
            start -= 1
            used += lengths[start]
        end = own
        while end < n and used + lengths[end] <= capacity:
            used += lengths[end]
            end += 1
        if end == own and n:  # context left no room for the next word: drop the context
            start, end = own, own + 1
        chunks.append((start, own, end))
        own = end
    return chunks


def align(pieces: list[list[int]], tag_ids: list[int], max_length: int, context: int,
          cls_id: int, sep_id: int) -> list[dict]:
    """Features of one sentence from its words' sub-token ids (each non-empty)."""
    capacity = max_length - 2
    pieces = [p[:capacity] for p in pieces]
    out = []
    for k, (start, own, end) in enumerate(chunk_words([len(p) for p in pieces], capacity, context)):
        ids, labels, words = [cls_id], [IGNORE], [-1]
        for w in range(start, end):
            owned = w >= own
            for j, tok in enumerate(pieces[w]):
                first = owned and j == 0
                ids.append(tok)
                labels.append(tag_ids[w] if first and tag_ids[w] >= 0 else IGNORE)
                words.append(w if first else -1)
        ids.append(sep_id)
        labels.append(IGNORE)
        words.append(-1)
        out.append({"seqs": [ids], "labels": labels, "word_index": words, "chunk": k})
    return out


def fallback_tag(labels) -> str:
    for tag in ("O", "X"):
        if tag in labels:
            return tag
    return labels[0] if labels else "O"


# ---------------------------------------------------------------------------- the family
class Tagging(Shared):
    name = "tagging"
    converters = {"udpos": _class_tags("pos_tags"), "panx": _class_tags("ner_tags"),
                  "tokens_tags": _tokens_tags}
    feature_schema = TAG_SCHEMA
    options = ("chunk_context",)
    head_per_token = True

    # ---- data -----------------------------------------------------------------------------
    def with_labels(self, task, train_examples):
        """The task with its tag set: the registry's, or (open tag set) the sorted tags of the
        English training examples."""
        if task.labels:
            return task
        tags = sorted({t for ex in train_examples() for t in ex["tags"]})
        if not tags:
            raise ConversionError(f"task {task.name!r}: the training set has no tags")
        return replace(task, labels=tuple(tags))

    def encode(self, tokenizer, examples, max_length: int, chunk_context: int = DEFAULT_CHUNK_CONTEXT,
               **_) -> list[dict]:
        if max_length < 3:
            raise ValueError(f"max_length {max_length} leaves no room for a word")
        words = [w for ex in examples for w in ex["words"]]
        enc = tokenizer(words, add_special_tokens=False)["input_ids"] if words else []
        unk = tokenizer.unk_token_id
        out, k = [], 0
        for ex in examples:
            n = len(ex["words"])
            pieces = [p or [unk] for p in enc[k:k + n]]
            k += n
            for f in align(pieces, list(ex["tag_ids"]), max_length, int(chunk_context),
                           tokenizer.cls_token_id, tokenizer.sep_token_id):
                out.append({"id": str(ex["id"]), **f, "n_words": n,
                            "tags": list(ex["tags"]) if f["chunk"] == 0 else []})
        return out

    # ---- model ----------------------------------------------------------------------------
    def make_head(self, hidden, task, dropout=0.1):
        if not task.labels:
            raise ValueError(f"task {task.name!r} has no tag set yet: prepare its data first "
                             f"(the tag set comes from the tokenized-cache manifest)")
        from xstilts.tasks.families.heads import TaggingHead

        return TaggingHead(hidden, len(task.labels), dropout)

    def collate(self, feats, pad_id):
        batch = pad(feats, pad_id)
        labels = torch.full(batch["input_ids"].shape[::2], IGNORE, dtype=torch.long)
        for i, f in enumerate(feats):
            labels[i, : len(f["labels"])] = torch.tensor(f["labels"], dtype=torch.long)
        batch["labels"] = labels
        return batch

    def logits(self, head, hidden, mask, batch_shape):
        return head(hidden).view(batch_shape[0], hidden.shape[1], -1)  # one sequence per feature

    def loss(self, logits, labels):
        if not bool((labels != IGNORE).any()):  # only empty sentences in the batch
            return logits.sum() * 0.0
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                           ignore_index=IGNORE)

    def predict(self, logits):
        return logits.argmax(-1).tolist()

    # ---- decoding and scoring -------------------------------------------------------------
    def outputs(self, task, preds, feats, **options):
        """One tag per word of every sentence, chunks stitched back by word index."""
        fallback = fallback_tag(task.labels)
        order, tags = [], {}
        for pred, f in zip(preds, feats):
            if f["id"] not in tags:
                order.append(f["id"])
                tags[f["id"]] = [None] * f["n_words"]
            sent = tags[f["id"]]
            for pos, w in enumerate(f["word_index"]):
                if w >= 0:
                    sent[w] = task.labels[pred[pos]]
        return order, [[t if t is not None else fallback for t in tags[i]] for i in order]

    def gold(self, task, examples, **options):
        return [str(ex["id"]) for ex in examples], [list(ex["tags"]) for ex in examples]

    @staticmethod
    def predicted_words(feats) -> int:
        return sum(1 for f in feats for w in f["word_index"] if w >= 0)

    def score(self, task, ids, outputs, feats, lang):
        gold = {f["id"]: f["tags"] for f in feats if f["chunk"] == 0}
        golds = [gold[i] for i in ids]
        out = tag_scores(task.metric, golds, outputs)
        words = sum(len(g) for g in golds)
        return {**out, "n": len(golds), "words": words,
                "fallback_words": words - self.predicted_words(feats)}

    def example_scores(self, task, preds, golds, lang, **options):
        """One example per sentence.  Seqeval F1 is a corpus statistic, so each sentence keeps
        its counts (true-positive, predicted and gold chunks) and a resample recomputes the
        corpus F1 from their sums; chunks come from the whole corpus, as seqeval reads it, and
        belong to the sentence they end in.  Word accuracy: (correct words, words)."""
        from xstilts.analysis.stats import ExampleScores

        if task.metric == "accuracy":
            return ExampleScores(np.array([[sum(g == p for g, p in zip(gs, ps)), len(gs)]
                                           for gs, ps in zip(golds, preds, strict=True)], dtype=float), "ratio")
        if task.metric != "f1":
            raise ValueError(f"tagging has no metric {task.metric!r} (f1 | accuracy)")
        # sentence k occupies flat positions starts[k] .. starts[k] + len - 1 (an "O" between)
        starts = np.cumsum([0] + [len(g) + 1 for g in golds])[:-1]
        gold = set(M.seqeval_entities([list(g) for g in golds]))
        pred = set(M.seqeval_entities([list(p) for p in preds]))
        counts = np.zeros((len(golds), 3))
        for col, chunks in ((0, gold & pred), (1, pred), (2, gold)):
            for _, _, end in chunks:
                counts[np.searchsorted(starts, end, side="right") - 1, col] += 1
        return ExampleScores(counts, "f1")

    # ---- trivial baselines ----------------------------------------------------------------
    def baselines(self, task, train, evals, **options):
        """Majority tag of the English training set for every word; the majority tag of each
        word form seen in training (unseen forms: the overall majority).  Toy languages profit
        from the second only through words shared with English (names, digits, loanwords)."""
        overall = Counter(t for ex in train for t in ex["tags"]).most_common(1)[0][0]
        per_form: dict[str, Counter] = {}
        for ex in train:
            for w, t in zip(ex["words"], ex["tags"]):
                per_form.setdefault(w, Counter())[t] += 1
        lookup = {w: c.most_common(1)[0][0] for w, c in per_form.items()}
        out = {"majority_tag": {}, "word_majority_tag": {}}
        for lang, exs in evals.items():
            golds = [ex["tags"] for ex in exs]
            out["majority_tag"][lang] = tag_scores(task.metric, golds, [[overall] * len(g) for g in golds])[task.metric]
            preds = [[lookup.get(w, overall) for w in ex["words"]] for ex in exs]
            out["word_majority_tag"][lang] = tag_scores(task.metric, golds, preds)[task.metric]
        return out

    def chance(self, task, train):
        """The score of tagging every word with the training set's majority tag."""
        golds = [ex["tags"] for ex in train]
        overall = Counter(t for g in golds for t in g).most_common(1)[0][0]
        return tag_scores(task.metric, golds, [[overall] * len(g) for g in golds])[task.metric]

    # ---- output ---------------------------------------------------------------------------
    def write_predictions(self, task, outputs, ids, out_dir, lang, **options):
        """One tag per line, a blank line after every sentence (``evaluate.py`` ``read_tag``)."""
        return self.write_submission(task, out_dir, lang,
                                     "".join("".join(f"{t}\n" for t in sent) + "\n" for sent in outputs))


def tag_scores(metric: str, golds: list[list[str]], preds: list[list[str]]) -> dict:
    """Fractions 0..1: seqeval micro P/R/F1 (``f1``) or word accuracy (``accuracy``)."""
    if metric == "f1":
        return M.seqeval_prf(golds, preds)
    if metric == "accuracy":
        pairs = [(g, p) for gs, ps in zip(golds, preds, strict=True) for g, p in zip(gs, ps, strict=True)]
        return {"accuracy": float(np.mean([g == p for g, p in pairs])) if pairs else float("nan")}
    raise ValueError(f"tagging has no metric {metric!r} (f1 | accuracy)")


FAMILY = Tagging()

"""Toy twins of the retrieval datasets, in the exact Hub schemas.

* ``google/xtreme`` ``tatoeba.<lang>`` (split ``validation``): parallel sentences, the toy
  language as ``source_sentence``, English as ``target_sentence``.
* ``google/xtreme`` ``bucc18.<lang>`` (splits ``validation`` = BUCC's sample, ``test``):
  comparable corpora: a few gold pairs hidden among many non-parallel sentences on both sides.
  The Hub schema has one sentence pair per row; a non-parallel sentence is a row whose partner
  is the empty string (the converter reads them as unpaired sentences).
* ``google-research-datasets/xquad_r`` ``<lang>`` (split ``validation``, English included):
  paragraphs of world sentences with yes/no questions about one sentence, parallel across
  languages (same question ids), SQuAD schema; the answer span is the answer sentence.

Sentences come from the corpus generator with their own random streams, English duplicates
removed, so that a source sentence has exactly one correct target.
"""

from __future__ import annotations

import pyarrow as pa

from xstilts.toy import items as I
from xstilts.toy.render import Renderer
from xstilts.toy.twins import hex_id, table
from xstilts.toy.world import stable_rng

BITEXT = pa.schema([("source_sentence", pa.string()), ("target_sentence", pa.string()),
                    ("source_lang", pa.string()), ("target_lang", pa.string())])
SQUAD = pa.schema([("id", pa.string()), ("title", pa.string()), ("context", pa.string()),
                   ("question", pa.string()),
                   ("answers", pa.struct([("text", pa.list_(pa.string())),
                                          ("answer_start", pa.list_(pa.int32()))]))])
BUCC_DISTRACTORS = 4  # non-parallel sentences per side for every gold pair
PARAGRAPH = 4  # sentences per LAReQA paragraph


class RetrievalTwins:
    def __init__(self, world, seed: int, n_test: int):
        self.w, self.r, self.seed, self.n = world, Renderer(world), seed, n_test
        self.toy_langs = tuple(lang for lang in world.languages if lang != "en")

    def _clauses(self, name: str, n: int, exclude: set) -> list:
        """``n`` corpus sentences (clauses, joiner) whose English text is new (not in
        ``exclude``, which is updated)."""
        rng = stable_rng(self.seed, "retrieval", name)
        out = []
        for _ in range(50 * n):
            if len(out) == n:
                break
            cl, joiner = I.corpus_sentence(rng, self.w)
            en = self.r.text(cl, "en", joiner)
            if en not in exclude:
                exclude.add(en)
                out.append((cl, joiner))
        if len(out) < n:
            raise RuntimeError(f"toy {name}: only {len(out)} distinct sentences of {n}")
        return out

    def tatoeba(self) -> dict:
        """{lang: {"validation": table}}."""
        sents = self._clauses("tatoeba", self.n, set())
        return {lang: {"validation": table(BITEXT, [
            {"source_sentence": self.r.text(cl, lang, j), "target_sentence": self.r.text(cl, "en", j),
             "source_lang": lang, "target_lang": "en"} for cl, j in sents])}
            for lang in self.toy_langs}

    def bucc(self) -> dict:
        """{lang: {"validation": table, "test": table}}: per split ``n/4`` gold pairs and
        ``BUCC_DISTRACTORS`` times as many non-parallel sentences on each side."""
        out = {lang: {} for lang in self.toy_langs}
        n_gold = max(self.n // 4, 4)
        for split in ("validation", "test"):
            seen: set = set()
            gold = self._clauses(f"bucc-{split}-gold", n_gold, seen)
            for lang in self.toy_langs:
                src_only = self._clauses(f"bucc-{split}-{lang}-src", BUCC_DISTRACTORS * n_gold, set(seen))
                trg_only = self._clauses(f"bucc-{split}-{lang}-trg", BUCC_DISTRACTORS * n_gold,
                                         set(seen) | {self.r.text(c, "en", j) for c, j in src_only})
                rows = ([(self.r.text(c, lang, j), self.r.text(c, "en", j)) for c, j in gold]
                        + [(self.r.text(c, lang, j), "") for c, j in src_only]
                        + [("", self.r.text(c, "en", j)) for c, j in trg_only])
                stable_rng(self.seed, "bucc-order", split, lang).shuffle(rows)
                out[lang][split] = table(BITEXT, [
                    {"source_sentence": s, "target_sentence": t, "source_lang": lang,
                     "target_lang": "en"} for s, t in rows])
        return out

    def xquad_r(self) -> dict:
        """{lang: {"validation": table}} for English and every toy language."""
        rng = stable_rng(self.seed, "retrieval", "xquad_r-questions")
        n_par = max(self.n // 8, 4)
        sents = self._clauses("xquad_r", n_par * PARAGRAPH, set())
        out = {lang: [] for lang in self.w.languages}
        for p in range(n_par):
            par = sents[p * PARAGRAPH:(p + 1) * PARAGRAPH]
            # questions about the sentences whose first clause is an action (renderable as a
            # yes/no question), at most two per paragraph
            askable = [k for k, (cl, _) in enumerate(par)
                       if cl[0].kind == "act" and cl[0].verb and cl[0].verb[0] == "verb"]
            for k in sorted(rng.sample(askable, min(2, len(askable)))):
                qid = hex_id(self.seed, "xquad_r", p, k, n=24)
                for lang in self.w.languages:
                    texts = [self.r.text(cl, lang, j) for cl, j in par]
                    context = " ".join(texts)
                    start = sum(len(t) + 1 for t in texts[:k])
                    question = self.r.text([par[k][0][0].with_(question=True)], lang)
                    out[lang].append({"id": qid, "title": f"toy-{p}", "context": context,
                                      "question": question,
                                      "answers": {"text": [texts[k]], "answer_start": [start]}})
        return {lang: {"validation": table(SQUAD, rows)} for lang, rows in out.items()}


def retrieval_tables(world, seed: int, n_test: int) -> dict:
    """{(repo, config): {split: table}} of every retrieval twin."""
    b = RetrievalTwins(world, seed, n_test)
    out = {}
    for lang, splits in b.tatoeba().items():
        out[("google/xtreme", f"tatoeba.{lang}")] = splits
    for lang, splits in b.bucc().items():
        out[("google/xtreme", f"bucc18.{lang}")] = splits
    for lang, splits in b.xquad_r().items():
        out[("google-research-datasets/xquad_r", lang)] = splits
    return out

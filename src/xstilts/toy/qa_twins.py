"""Toy twins of the extractive QA datasets, in SQuAD's Hub schema.

An item is a paragraph of two facts (``Alice indeed bought the big car in Ashford at 5.``) and
a question that asks for one slot of one of them (who / what / where / when), written as an
echo question in the language of the paragraph: the fact with the asked slot replaced by a
question word (``Alice indeed purchased what in Ashford at 5?``); half of the questions leave
out the place or the time when it is not asked for (``Who indeed bought the big car at 5?``).  The gold answer is the slot's
character span in the paragraph (``big car``; the subject name; the place name; the number).

No surface shortcut: the answer value also occurs in the distractor fact (the same person does
something else, another person handles the same kind of object, or something else happens at
the same place), so the answer is never "the first name" or "the only number"; the asked slot is
balanced over the four kinds and the fact's position in the paragraph is uniform; the question
goes through the synonym noise of the other twins (two surface forms per verb, object and
adjective), so overlap alone does not always pick the right fact.  Validation and test questions
carry several gold answers, as the real datasets (the object with and without its adjective;
the other answers repeated as by several annotators).  SQuAD v2's unanswerable questions ask
about a fact that is not in the paragraph (one of the other slots changed to a value the
paragraph never mentions).

The question words of the toy languages are pseudo-words or the English ones, shared in the
proportion of the language's shared vocabulary.
"""

from __future__ import annotations

import pyarrow as pa

from xstilts.toy import items as I
from xstilts.toy.render import Clause, Name, Num, Obj, Renderer, Token, capitalize, detokenize
from xstilts.toy.twins import hex_id, table
from xstilts.toy.world import GRAMMARS, World, _pseudo_word, stable_int, stable_rng

SLOTS = ("subj", "obj", "place", "time")
WH_EN = {"subj": "who", "obj": "what", "place": "where", "time": "when"}
N_FACTS = 2  # three made a task the tiny models barely learn in the demo's budget (docs/toy.md)
QUESTION_NOISE = 0.4  # probability of a synonym swap per content word of the question
UNANSWERABLE = 1 / 3  # SQuAD v2 training set: about a third of the questions

ANSWERS = pa.struct([("text", pa.list_(pa.string())), ("answer_start", pa.list_(pa.int32()))])
SQUAD_SCHEMA = pa.schema([("id", pa.string()), ("title", pa.string()), ("context", pa.string()),
                          ("question", pa.string()), ("answers", ANSWERS)])
XQUAD_SCHEMA = pa.schema([("id", pa.string()), ("context", pa.string()),
                          ("question", pa.string()), ("answers", ANSWERS)])
#: TyDiQA ids start with the language name; toy languages use their code
TYDIQA_PREFIX = {"en": "english"}


def question_words(w: World, seed: int) -> dict:
    """``{lang: {slot: word}}``: English, or a pseudo-word, shared like the lexicon."""
    out = {"en": dict(WH_EN)}
    used = {v for entry in w.lex.values() for v in entry.values()}
    rank = sorted(SLOTS, key=lambda s: stable_int(seed, "qa-wh", s))
    for lang in w.languages[1:]:
        n_shared = round(GRAMMARS[lang].share * len(SLOTS))
        rng = stable_rng(seed, "qa-wh", lang)
        words = {}
        for i, slot in enumerate(rank):
            if i < n_shared:
                words[slot] = WH_EN[slot]
                continue
            word = _pseudo_word(rng, lang)
            while word in used or len(word) < 3:
                word = _pseudo_word(rng, lang)
            used.add(word)
            words[slot] = word
        out[lang] = words
    return out


def _fact(rng, w: World, who: str, verb: str, ob: str, where: str, when: int) -> Clause:
    c = I.act_clause(rng, w, who, ob, verb, I.rand_adj(rng, w, ob), places=where)
    return c.with_(pps=c.pps + (("at", Num(when)),))


def qa_item(rng, w: World, slot: str, answerable: bool = True) -> dict:
    """Four facts (the target and three distractors sharing one value each with it), the index
    of the target, the asked slot and the clause the question is made of."""
    verbs = [v for v in I.ACTION_VERBS if w.objects_for(v)]
    people = rng.sample(w.people, 4)
    places = rng.sample(w.places, 4)
    times = rng.sample(range(1, 13), 4)
    v1, v2, v3 = rng.sample(verbs, 3)
    o1, o2, o3 = (rng.choice(w.objects_for(v)) for v in (v1, v2, v3))
    target = _fact(rng, w, people[0], v1, o1, places[0], times[0])
    distractors = [_fact(rng, w, people[0], v2, o2, places[1], times[1]),  # same person
                   _fact(rng, w, people[1], v1, o1, places[2], times[2]),  # same verb and object
                   _fact(rng, w, people[2], v3, o3, places[0], times[3])]  # same place
    # the distractor repeating the asked value always stays (no "the only name" shortcut)
    keep = {"subj": 0, "obj": 1, "place": 2, "time": rng.randrange(3)}[slot]
    others = [d for k, d in enumerate(distractors) if k != keep]
    facts = [target, distractors[keep]] + rng.sample(others, N_FACTS - 2)
    order = list(range(N_FACTS))
    rng.shuffle(order)
    facts = [facts[i] for i in order]
    question = I.synonym_noise(rng, target, QUESTION_NOISE)
    place_pp, time_pp = question.pps
    # questions restate only part of the fact: half of them leave out a place or time that is
    # not asked for (the rest still tells the target from every distractor)
    present = {"place": place_pp, "time": time_pp}
    if rng.random() < 0.5:
        omit = rng.choice([k for k in present if k != slot])
        del present[omit]
    if not answerable:  # change one identifying slot to a value absent from the paragraph
        other = rng.choice([k for k in ("subj", *present) if k != slot])
        if other == "subj":
            question = question.with_(subj=Name(people[3], "PER"))
        elif other == "place":
            present["place"] = ("in", Name(places[3], "LOC"))
        else:
            present["time"] = ("at", Num(13 + rng.randrange(8)))
    question = question.with_(pps=tuple(present[k] for k in ("place", "time") if k in present))
    return {"facts": facts, "target": order.index(0), "slot": slot, "question": question,
            "answerable": answerable}


def _slot_range(toks: list, slot: str, lang: str, with_prep: bool) -> tuple[int, int]:
    """First and last token index of a slot's phrase in a rendered clause."""
    kinds = {"subj": ("subj",), "obj": ("adj", "obj") + (("det",) if with_prep else ()),
             "place": ("place",), "time": ("time",)}[slot]
    idx = [i for i, t in enumerate(toks) if t.slot in kinds]
    lo, hi = min(idx), max(idx)
    if with_prep and slot in ("place", "time"):
        if GRAMMARS[lang].adpos == "pre" and lo and toks[lo - 1].slot == "prep":
            lo -= 1
        elif hi + 1 < len(toks) and toks[hi + 1].slot == "prep":
            hi += 1
    return lo, hi


class QATwins:
    def __init__(self, world: World, seed: int, n_train: int, n_dev: int, n_test: int):
        self.w, self.r, self.seed = world, Renderer(world), seed
        self.n = {"train": n_train, "dev": n_dev, "test": n_test}
        self.wh = question_words(world, seed)

    def items(self, name: str, size: str, unanswerable: float = 0.0) -> list[dict]:
        rng = stable_rng(self.seed, "twin", "qa", name, size)
        slots = [SLOTS[i] for i in I.balanced_labels(rng, self.n[size], len(SLOTS))]
        return [qa_item(rng, self.w, s, rng.random() >= unanswerable) for s in slots]

    def render(self, it: dict, lang: str, several: bool) -> dict:
        """``context``, ``question`` and ``answers`` of one item in one language."""
        parts, pos, answer = [], 0, None
        for k, fact in enumerate(it["facts"]):
            toks = self.r.sentence(fact, lang)
            text, spans = detokenize(toks)
            if k == it["target"]:
                lo, hi = _slot_range(toks, it["slot"], lang, with_prep=False)
                answer = (pos + spans[lo][0], pos + spans[hi][1])
                noun = [i for i, t in enumerate(toks) if t.slot == "obj"]
                alt = (pos + spans[noun[0]][0], pos + spans[noun[-1]][1]) if it["slot"] == "obj" else answer
            parts.append(text)
            pos += len(text) + 1
        context = " ".join(parts)
        q = self.r.clause(it["question"], lang)
        lo, hi = _slot_range(q, it["slot"], lang, with_prep=True)
        q = capitalize(q[:lo] + [Token(self.wh[lang][it["slot"]], "PRON", "O", "q")] + q[hi + 1:]
                       + [Token("?", "PUNCT", "O", "punct")])
        spans = ([answer, alt] if several else [answer]) if it["answerable"] else []
        return {"context": context, "question": detokenize(q)[0],
                "answers": {"text": [context[s:e] for s, e in spans],
                            "answer_start": [s for s, _ in spans]}}

    def rows(self, its, lang, ids, several, title=True) -> list[dict]:
        rows = []
        for it, i in zip(its, ids):
            row = {"id": i, **self.render(it, lang, several)}
            if title:
                row["title"] = it["facts"][it["target"]].subj.text.replace(" ", "_")
            rows.append(row)
        return rows

    # ------------------------------------------------------------------ twins
    def squad(self, version: str = "") -> dict:
        """rajpurkar/squad (v1.1) or rajpurkar/squad_v2 (``version="_v2"``): English."""
        name = f"squad{version}"
        out = {}
        for split, size in (("train", "train"), ("validation", "dev")):
            its = self.items(name, size, UNANSWERABLE if version else 0.0)
            ids = [hex_id(self.seed, name, size, i, n=24) for i in range(len(its))]
            out[split] = table(SQUAD_SCHEMA, self.rows(its, "en", ids, several=size != "train"))
        return out

    def xquad(self) -> dict:
        """{lang: {"validation": table}}: the same questions in English and every toy language."""
        its = self.items("xquad", "test")
        ids = [hex_id(self.seed, "xquad", i, n=24) for i in range(len(its))]
        return {lang: {"validation": table(XQUAD_SCHEMA, self.rows(its, lang, ids, True, title=False))}
                for lang in self.w.languages}

    def mlqa(self) -> dict:
        """{lang: {split: table}}: MLQA.<lang>.<lang> (context and question in one language)."""
        out = {lang: {} for lang in self.w.languages}
        for split, size in (("validation", "dev"), ("test", "test")):
            its = self.items("mlqa", size)
            ids = [hex_id(self.seed, "mlqa", size, i, n=40) for i in range(len(its))]
            for lang in self.w.languages:
                out[lang][split] = table(SQUAD_SCHEMA, self.rows(its, lang, ids, True))
        return out

    def tydiqa(self) -> dict:
        """google/xtreme tydiqa: English train; validation of every language in one split, the
        language as the id prefix."""
        train = self.items("tydiqa", "train")
        ids = [f"english-{stable_int(self.seed, 'tydiqa', 'train', i) >> 1}-0" for i in range(len(train))]
        out = {"train": table(SQUAD_SCHEMA, self.rows(train, "en", ids, False))}
        its = self.items("tydiqa", "test")
        rows = []
        for lang in self.w.languages:
            prefix = TYDIQA_PREFIX.get(lang, lang)
            ids = [f"{prefix}-{stable_int(self.seed, 'tydiqa', i) >> 1}-0" for i in range(len(its))]
            rows += self.rows(its, lang, ids, True)
        out["validation"] = table(SQUAD_SCHEMA, rows)
        return out

    def all(self) -> dict:
        """``{(repo, config): {split: table}}`` of every QA twin."""
        out = {("rajpurkar/squad", "default"): self.squad(),
               ("rajpurkar/squad_v2", "default"): self.squad("_v2"),
               ("google/xtreme", "tydiqa"): self.tydiqa()}
        for lang, splits in self.xquad().items():
            out[("google/xtreme", f"XQuAD.{lang}")] = splits
        for lang, splits in self.mlqa().items():
            out[("google/xtreme", f"MLQA.{lang}.{lang}")] = splits
        return out

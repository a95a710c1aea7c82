"""Toy twins of the tagging datasets: UD-POS and PAN-X (``google/xtreme`` schema) and a CCG-like
supertagging set (``tokens<TAB>tags`` lines, as a local CCGbank conversion).

Sentences are corpus-style clauses of the toy world rendered by :class:`Renderer` (every token
carries its UPOS and BIO entity tag).  The names in them are replaced by *fresh* names: the
training split draws from one pool, validation and test from another, disjoint one, so a
word-form lookup learnt on English training data cannot recognise an evaluation entity; type
and extent must come from context ("<PER> bought", "in <LOC>", "for <ORG>") and from
name-internal cue words ("Port", "Lake", "Bank").  Test sets are parallel across languages.

UD-POS keeps the fresh names in every language.  PAN-X (WikiANN) writes them as the languages'
own Wikipedias would: a name keeps its English spelling with the language's share of English
word types (``qaa`` .75 ... ``qad`` .05) and is otherwise respelt in the language's phonology (a
fixed letter mapping per language; cue words stay), so the entities of a distant language are
unseen strings whose type and extent only the sentence around them tells.
"""

from __future__ import annotations

from dataclasses import replace

import pyarrow as pa

from xstilts.core.arrow import columns_table
from xstilts.core.registry import TASKS
from xstilts.toy import items as I
from xstilts.toy.render import Token
from xstilts.toy.world import GRAMMARS, PHONOLOGY, stable_int, stable_rng

S, LS = pa.string(), pa.list_(pa.string())
UDPOS_SCHEMA = pa.schema([("tokens", LS), ("pos_tags", pa.list_(pa.int64()))])
PANX_SCHEMA = pa.schema([("tokens", LS), ("ner_tags", pa.list_(pa.int64())), ("langs", LS)])
UPOS, PANX_TAGS = TASKS["udpos"].labels, TASKS["panx"].labels  # the Hub's class-label order
UDPOS_CONFIG = TASKS["udpos"].lang_config
SPLITS = (("train", "train"), ("validation", "dev"), ("test", "test"))

LOC_CUES = (("Port", None), ("Lake", None), ("Cape", None), (None, "Bay"), (None, "Hill"))
ORG_CUES = ("Group", "Bank", "Labs", "Motors", "Press", "Systems", "Foods", "Media")


NAME_CONSONANTS, NAME_VOWELS = "bdfghklmnprstvz", "aeiou"
CUE_WORDS = {w for pair in LOC_CUES for w in pair if w} | set(ORG_CUES)


def _name_word(rng) -> str:
    cons, vows = NAME_CONSONANTS, NAME_VOWELS
    shape = rng.choice(("CVCV", "CVCVC", "CVCCV", "VCVC", "CVCVCV"))
    w = "".join(rng.choice(cons) if ch == "C" else rng.choice(vows) for ch in shape)
    return w.capitalize()


class NamePools:
    """Disjoint pools of fresh names per kind: ``train`` and ``eval``."""

    def __init__(self, seed: int, reserved: set, size: int = 60):
        rng = stable_rng(seed, "tagging", "names")
        used = {w.lower() for w in reserved}
        words = []
        while len(words) < 6 * size:
            w = _name_word(rng)
            if w.lower() not in used:
                used.add(w.lower())
                words.append(w)
        it = iter(words)
        self.pools = {"train": {}, "eval": {}}
        for pool in ("train", "eval"):
            per = [f"{next(it)} {next(it)}" if rng.random() < 0.5 else next(it) for _ in range(size)]
            loc = []
            for _ in range(size // 2):
                pre, post = rng.choice(LOC_CUES)
                w = next(it)
                loc.append(" ".join(p for p in (pre, w, post) if p) if rng.random() < 0.6 else w)
            org = [f"{next(it)} {rng.choice(ORG_CUES)}" for _ in range(size // 2)]
            self.pools[pool] = {"PER": per, "LOC": loc, "ORG": org}

    def draw(self, rng, pool: str, kind: str) -> str:
        return rng.choice(self.pools[pool][kind])


def entity_spans(toks) -> list[tuple[int, int, str]]:
    """``(start, end, kind)`` of every B-/I- run of rendered tokens (end exclusive)."""
    spans, i = [], 0
    while i < len(toks):
        if toks[i].ent.startswith("B-"):
            kind, j = toks[i].ent[2:], i + 1
            while j < len(toks) and toks[j].ent == f"I-{kind}":
                j += 1
            spans.append((i, j, kind))
            i = j
        else:
            i += 1
    return spans


def rename(toks, mapping: dict) -> list:
    """Replace every entity (by its text) with ``mapping[text]``, keeping tags consistent."""
    out, last = [], 0
    for start, end, kind in entity_spans(toks):
        out += toks[last:start]
        text = " ".join(t.text for t in toks[start:end])
        for j, part in enumerate(mapping[text].split()):
            out.append(Token(part, "PROPN", ("B-" if j == 0 else "I-") + kind, toks[start].slot))
        last = end
    return out + toks[last:]


class LocalSpelling:
    """PAN-X's names as a language writes them: English spelling for the language's share of
    names (chosen per name and language, stable), else a letter-by-letter respelling into the
    language's phonology.  Cue words ("Port", "Bank") keep their form."""

    def __init__(self, seed: int):
        self.seed, self.letters = seed, {}
        for lang, (cons, vows, _) in PHONOLOGY.items():
            rng = stable_rng(seed, "tagging", "spelling", lang)
            self.letters[lang] = {**{c: rng.choice(cons) for c in NAME_CONSONANTS},
                                  **{v: rng.choice(vows) for v in NAME_VOWELS}}

    def respelt(self, name: str, lang: str) -> bool:
        return stable_int(self.seed, "tagging", "respell", lang, name) % 1000 >= 1000 * GRAMMARS[lang].share

    def word(self, word: str, lang: str) -> str:
        if word in CUE_WORDS:
            return word
        return "".join(self.letters[lang].get(ch, ch) for ch in word.lower()).capitalize()

    def sentence(self, toks: list, lang: str) -> list:
        if lang not in self.letters:  # English
            return toks
        out = list(toks)
        for start, end, _ in entity_spans(toks):
            if self.respelt(" ".join(t.text for t in toks[start:end]), lang):
                for i in range(start, end):
                    out[i] = replace(toks[i], text=self.word(toks[i].text, lang))
        return out


# ---------------------------------------------------------------------------- CCG-like tags
NP_START = {"DET", "NOUN", "PROPN", "NUM", "ADJ"}


def supertags(toks) -> list[str]:
    """CCG-like categories of an English toy sentence, read off its structure: determiners
    ``NP[nb]/N``, attributive ``N/N`` vs predicative ``S[adj]\\NP`` adjectives, transitive vs
    intransitive and declarative vs bare (question) verbs, VP-modifying vs fronted sentence-
    modifying prepositions, name-internal ``N/N``."""
    out = []
    question = any(t.pos == "AUX" for t in toks)
    for i, t in enumerate(toks):
        prev = toks[i - 1] if i else None
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if t.pos == "PUNCT":
            tag = "," if t.text == "," else "."
        elif t.pos == "DET":
            tag = "NP[nb]/N"
        elif t.pos == "ADJ":
            tag = "S[adj]\\NP" if prev is not None and prev.pos == "VERB" else "N/N"
        elif t.pos == "NOUN":
            j = i - 1
            while j >= 0 and toks[j].pos == "ADJ" and toks[j].slot == "adj":
                j -= 1
            tag = "N" if j >= 0 and toks[j].pos == "DET" else "NP"
        elif t.pos == "PROPN":
            inside = nxt is not None and nxt.ent.startswith("I-")
            multi = t.ent.startswith("I-") or inside
            tag = "N/N" if inside else ("N" if multi else "NP")
        elif t.pos == "NUM":
            tag = "N"
        elif t.pos == "ADV":
            tag = "(S\\NP)/(S\\NP)"
        elif t.pos == "AUX":
            tag = "(S[q]/(S[b]\\NP))/NP"
        elif t.pos == "VERB":
            mood = "b" if question else "dcl"
            if t.key == ("fn", "became"):
                tag = f"(S[{mood}]\\NP)/(S[adj]\\NP)"
            elif nxt is not None and nxt.pos in NP_START:
                tag = f"(S[{mood}]\\NP)/NP"
            else:
                tag = f"S[{mood}]\\NP"
        elif t.pos == "ADP":
            fronted = i == 0 or (prev.pos == "CCONJ" and i >= 2 and toks[i - 2].text == ",")
            tag = "(S/S)/NP" if fronted else "((S\\NP)\\(S\\NP))/NP"
        elif t.pos == "CCONJ":
            tag = "conj"
        else:
            tag = t.pos
        out.append(tag)
    return out


# ---------------------------------------------------------------------------- builder
class TaggingTwins:
    def __init__(self, builder):
        self.b = builder  # toy.twins.TwinBuilder: world, renderer, seed, sizes
        w = builder.w
        reserved = {p for n in w.people + w.places + w.orgs for p in n.split()}
        reserved |= {s for forms in w.lex.values() for s in forms.values()}
        self.names = NamePools(builder.seed, reserved)
        self.spelling = LocalSpelling(builder.seed)

    def items(self, name: str, size: str) -> list:
        """``(clauses, joiner, name mapping)`` per sentence of a split (shared by every language)."""
        rng = self.b.rng("tagging", name, size)
        pool = "train" if size == "train" else "eval"
        out = []
        for _ in range(self.b.n[size]):
            clauses, joiner = I.corpus_sentence(rng, self.b.w)
            toks = self.b.r.sentence(clauses, "en", joiner)
            mapping = {}
            for s, e, kind in entity_spans(toks):
                text = " ".join(t.text for t in toks[s:e])
                mapping.setdefault(text, self.names.draw(rng, pool, kind))
            out.append((clauses, joiner, mapping))
        return out

    def render(self, item, lang: str) -> list:
        clauses, joiner, mapping = item
        return rename(self.b.r.sentence(clauses, lang, joiner), mapping)

    def xtreme(self, name: str):
        """``{config lang: {split: table}}`` of ``udpos`` or ``panx``; training data in English."""
        out = {lang: {} for lang in self.b.w.languages}
        for split, size in SPLITS:
            items = self.items(name, size)
            for lang in self.b.w.languages:
                if split == "train" and lang != "en":
                    continue
                sents = [self.render(it, lang) for it in items]
                if name == "panx":
                    sents = [self.spelling.sentence(t, lang) for t in sents]
                if name == "udpos":
                    rows = {"tokens": [[t.text for t in s] for s in sents],
                            "pos_tags": [[UPOS.index(t.pos) for t in s] for s in sents]}
                    out[lang][split] = columns_table(UDPOS_SCHEMA, rows)
                else:
                    rows = {"tokens": [[t.text for t in s] for s in sents],
                            "ner_tags": [[PANX_TAGS.index(t.ent) for t in s] for s in sents],
                            "langs": [[lang] * len(s) for s in sents]}
                    out[lang][split] = columns_table(PANX_SCHEMA, rows)
        return out

    def ccg(self) -> dict:
        """``{split: text}`` of ``tokens<TAB>tags`` lines (English, world names kept)."""
        out = {}
        for split, size in (("train", "train"), ("dev", "dev")):
            rng = self.b.rng("tagging", "ccg", size)
            lines = []
            for _ in range(self.b.n[size]):
                clauses, joiner = I.corpus_sentence(rng, self.b.w)
                toks = self.b.r.sentence(clauses, "en", joiner)
                lines.append(" ".join(t.text for t in toks) + "\t" + " ".join(supertags(toks)))
            out[split] = "".join(f"{line}\n" for line in lines)
        return out


def write_tagging_twins(builder, out_root, write_table) -> dict:
    """Write every tagging twin under ``out_root/hub``; ``{relative path: (path, rows)}``."""
    tw = TaggingTwins(builder)
    files = {}
    for name, config in (("udpos", "udpos.{}"), ("panx", "PAN-X.{}")):
        for lang, splits in tw.xtreme(name).items():
            token = UDPOS_CONFIG.get(lang, lang) if name == "udpos" else lang  # udpos.English, udpos.qaa
            for split, tab in splits.items():
                rel, p, n = write_table(out_root, "google/xtreme", config.format(token), split, tab)
                files[rel] = (p, n)
    for split, text in tw.ccg().items():
        rel, p, n = write_tsv(out_root, "ccgbank", "default", split, text)
        files[rel] = (p, n)
    return files


def write_tsv(out_root, repo: str, config: str, split: str, text: str) -> tuple:
    """A ``tokens<TAB>tags`` file at ``hub/<repo>/<config>/<split>.tsv``: (relative path, path,
    sentences)."""
    rel = f"hub/{repo}/{config}/{split}.tsv"
    p = out_root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return rel, p, text.count("\n")

"""Word-level renderer: semantic clauses -> annotated tokens -> text (with character spans).

A sentence is built from language-independent structures (``Name``, ``Obj``, ``Coord``,
``Num``, ``Clause``) and rendered into any language of a ``World``. Every rendered ``Token``
carries its UPOS tag, a BIO entity tag, the fact slot it expresses and the lexicon key it came
from, so later twins (extractive QA with character spans, POS/NER tagging, parallel sentences,
word alignment) can reuse the same renderer: ``detokenize`` returns the text and the character
span of every token.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional, Union

from xstilts.toy.world import GRAMMARS, World


@dataclass(frozen=True)
class Token:
    text: str
    pos: str  # UPOS
    ent: str = "O"  # BIO entity tag: B-PER I-PER B-LOC I-LOC B-ORG I-ORG O
    slot: str = ""  # fact slot: subj obj obj2 pol verb adj place time prep det conj punct q
    key: tuple = ()  # lexicon key (empty for names, digits, punctuation)


@dataclass(frozen=True)
class Name:
    text: str
    kind: str  # PER | LOC | ORG


@dataclass(frozen=True)
class Num:
    value: int


@dataclass(frozen=True)
class Obj:
    concept: str
    v: int = 0  # which synonym
    adjs: tuple = ()  # ((dim, pole, v), ...)
    det: bool = True
    hyper: bool = False  # render the class word (hypernym) instead of the concept


@dataclass(frozen=True)
class Coord:
    items: tuple


NP = Union[Name, Num, Obj, Coord]


@dataclass(frozen=True)
class Clause:
    """``kind``: ``act`` (subj verb [obj] [pps]), ``state`` (subj became adj),
    ``isa`` (subj is a <class>)."""

    kind: str
    subj: NP
    pol: str = "pos"  # pos | neg
    verb: tuple = ()  # lexicon key of the verb, e.g. ("verb", "buy", 0)
    obj: Optional[NP] = None
    pps: tuple = ()  # ((prep, NP), ...)
    adj: tuple = ()  # (dim, pole, v) for state clauses
    cls: str = ""  # class for isa clauses
    front: bool = False  # topicalise the first pp ("In Ashford, ...")
    question: bool = False

    def with_(self, **kw) -> "Clause":
        return replace(self, **kw)


def obj_key(o: Obj) -> tuple:
    return ("cls", o.concept) if o.hyper else ("obj", o.concept, o.v)


class Renderer:
    def __init__(self, world: World):
        self.w = world

    # -- words
    def word(self, key, lang, pos, slot, suffix="") -> Token:
        return Token(self.w.lex[key][lang] + suffix, pos, "O", slot, key)

    def np(self, np: NP, lang: str, slot: str, case: bool = False) -> list:
        g = GRAMMARS[lang]
        suf = g.obj_suffix if case else ""
        if isinstance(np, Name):
            parts = np.text.split()
            toks = [Token(p, "PROPN", ("B-" if i == 0 else "I-") + np.kind, slot) for i, p in enumerate(parts)]
            if suf:  # names are never inflected: the case marker is a separate particle
                toks.append(Token(suf, "ADP", "O", "case"))
            return toks
        if isinstance(np, Num):
            return [Token(str(np.value), "NUM", "O", slot)]
        if isinstance(np, Coord):
            out = []
            for i, item in enumerate(np.items):
                if i:
                    out.append(self.word(("fn", "and"), lang, "CCONJ", "conj"))
                out.extend(self.np(item, lang, slot, case))
            return out
        # Obj
        noun = self.word(obj_key(np), lang, "NOUN", slot, suf)
        adjs = [self.word(("adj",) + a, lang, "ADJ", "adj") for a in np.adjs]
        toks = []
        if g.det and np.det:
            toks.append(self.word(("fn", "det"), lang, "DET", "det"))
        toks += (adjs + [noun]) if g.adj == "pre" else ([noun] + adjs)
        return toks

    def pp(self, prep: str, np: NP, lang: str) -> list:
        g = GRAMMARS[lang]
        slot = "place" if isinstance(np, Name) and np.kind == "LOC" else (
            "time" if isinstance(np, Num) else "obj2")
        p = self.word(("fn", prep), lang, "ADP", "prep")
        body = self.np(np, lang, slot)
        return [p] + body if g.adpos == "pre" else body + [p]

    # -- clauses
    def clause(self, c: Clause, lang: str) -> list:
        g = GRAMMARS[lang]
        en = lang == "en"
        subj = self.np(c.subj, lang, "subj")
        pol = [self.word(("fn", c.pol), lang, "ADV", "pol")]
        pps = list(c.pps)
        front = []
        if c.front and pps:
            front = self.pp(*pps[0], lang) + [Token(",", "PUNCT", "O", "punct")]
            pps = pps[1:]
        pp_toks = [t for p in pps for t in self.pp(*p, lang)]
        if c.kind == "act":
            if en and c.question:
                verb = [Token(self.w.en_base[c.verb], "VERB", "O", "verb", c.verb)]
            else:
                verb = [self.word(c.verb, lang, "VERB", "verb", g.verb_suffix)]
            obj = self.np(c.obj, lang, "obj", case=True) if c.obj is not None else []
            if g.order == "SVO":
                core = subj + pol + verb + obj + pp_toks
            else:
                core = subj + pol + pp_toks + obj + verb
        elif c.kind == "state":
            cop = [self.word(("fn", "became"), lang, "VERB", "verb", g.verb_suffix)]
            adj = [self.word(("adj",) + c.adj, lang, "ADJ", "adj")]
            core = subj + pol + (cop + adj if g.order == "SVO" else adj + cop) + pp_toks
        elif c.kind == "isa":
            cop = [self.word(("fn", "is"), lang, "VERB", "verb", g.verb_suffix)]
            art = [self.word(("fn", "a"), lang, "DET", "det")] if g.det else []
            cls = [self.word(("cls", c.cls), lang, "NOUN", "cls")]
            if en and cls[0].text[:1] in "aeiou":
                art = [replace(art[0], text="an")]
            core = subj + pol + (cop + art + cls if g.order == "SVO" else art + cls + cop)
        else:
            raise ValueError(c.kind)
        toks = front + core
        if c.question:
            q = self.word(("fn", "did"), lang, "AUX", "q")
            if en:  # do-support: "Did Alice indeed buy ...", fronted pp stays first
                toks = front + [q] + core
            elif g.question == "initial":
                toks = front + [q] + core
            else:
                toks = toks + [q]
        return toks

    def sentence(self, clauses, lang: str, joiner: str = "and") -> list:
        """One sentence of one or more clauses joined by ``, <joiner>``, with final punctuation."""
        if isinstance(clauses, Clause):
            clauses = [clauses]
        toks = []
        for i, c in enumerate(clauses):
            if i:
                toks += [Token(",", "PUNCT", "O", "punct"), self.word(("fn", joiner), lang, "CCONJ", "conj")]
            toks += self.clause(c, lang)
        end = "?" if clauses[-1].question else "."
        toks.append(Token(end, "PUNCT", "O", "punct"))
        return capitalize(toks)

    def text(self, clauses, lang: str, joiner: str = "and") -> str:
        """Plain text of ``sentence`` (fast path, equal to ``detokenize(sentence(...))[0]``)."""
        if isinstance(clauses, Clause):
            clauses = [clauses]
        words = []
        for i, c in enumerate(clauses):
            if i:
                words += [",", self.w.lex[("fn", joiner)][lang]]
            words += [t.text for t in self.clause(c, lang)]
        words.append("?" if clauses[-1].question else ".")
        s = " ".join(words).replace(" ,", ",").replace(" .", ".").replace(" ?", "?")
        return s[:1].upper() + s[1:]

    def texts(self, sentences, lang: str) -> str:
        """Several sentences (each a clause or list of clauses) as one paragraph."""
        return " ".join(self.text(s, lang) for s in sentences)


def capitalize(toks: list) -> list:
    if not toks:
        return toks
    t = toks[0]
    return [replace(t, text=t.text[:1].upper() + t.text[1:])] + list(toks[1:])


NO_SPACE_BEFORE = {",", ".", "?", "!"}


def detokenize(toks: list) -> tuple:
    """-> (text, [(start, end) per token]); punctuation attaches to the previous word."""
    parts, spans, pos = [], [], 0
    for i, t in enumerate(toks):
        if i and t.text not in NO_SPACE_BEFORE:
            parts.append(" ")
            pos += 1
        spans.append((pos, pos + len(t.text)))
        parts.append(t.text)
        pos += len(t.text)
    return "".join(parts), spans

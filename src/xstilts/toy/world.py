"""The toy world: entities, concepts, lexical relations, causal rules, and toy-language lexicons.

Everything is deterministic from a seed (``stable_rng``); Python's salted ``hash()`` is never used.

Lexical design (see ``/work/shared/TOY-LESSONS.md``):

* every content concept has **two English surface forms** (synonyms), so entailment/paraphrase
  cannot be read off word overlap;
* objects belong to **classes** (hypernyms); adjectives come in **antonym dimensions**
  (``size: big|small``); verbs have **selectional preferences** over object classes;
* **causal rules** map an action verb to the state it causes (``drop -> broken``);
* names (people, places, organisations) and digits are shared by every language; every other
  word type of a toy language is either the English form (shared) or a pseudo-word of that
  language, with a graded share (``qaa`` .75, ``qab`` .50, ``qac`` .25, ``qad`` .05). Sharing is
  nested (a word shared by ``qad`` is shared by ``qac``, ``qab`` and ``qaa``);
* word order is the second lever of distance: ``qaa`` and ``qab`` keep English order (SVO,
  adjective before the noun, prepositions), ``qac`` puts adjectives after the noun and the
  question particle last, ``qad`` is SOV with postpositions, post-nominal adjectives, no
  determiners and object and verb suffixes;
* **homographs**, as in real languages (English *saw*, *can*, *book*): in every language each
  verb form is spelt like a form of an object noun, so a word's part of speech depends on its
  context and UD-POS cannot be solved by a word-form lookup.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

# --------------------------------------------------------------------------- languages

#: ISO 639-2 "reserved for local use" codes (qaa-qtz); never real languages.
TOY_LANGUAGES = ("qaa", "qab", "qac", "qad")
LANGUAGES = ("en",) + TOY_LANGUAGES


@dataclass(frozen=True)
class Grammar:
    """Word order and morphology of one language."""

    order: str = "SVO"  # "SVO" | "SOV"
    adj: str = "pre"  # adjective before ("pre") or after ("post") the noun
    det: bool = True  # determiners present
    adpos: str = "pre"  # prepositions ("pre") or postpositions ("post")
    obj_suffix: str = ""  # object (accusative) suffix on common nouns ("" = none)
    verb_suffix: str = ""  # suffix on every verb / copula
    question: str = "initial"  # question particle position: "initial" | "final"
    share: float = 1.0  # fraction of (non-name) word types identical to English


GRAMMARS = {
    "en": Grammar(),
    "qaa": Grammar(share=0.75),
    "qab": Grammar(share=0.50),
    "qac": Grammar(adj="post", question="final", share=0.25),
    "qad": Grammar(order="SOV", adj="post", det=False, adpos="post", obj_suffix="ra",
                   verb_suffix="ta", question="final", share=0.05),
}

#: letters used by the pseudo-words of each toy language (distinct "phonologies")
PHONOLOGY = {
    "qaa": ("bdfgklmnprst", "aeiou", ("CVCV", "CVCVC", "CVCCV")),
    "qab": ("bcdfglmnprstv", "aeiou", ("CVCVCV", "CVCVC", "VCVCV")),
    "qac": ("kgtdnmshry", "aiu", ("CVCVC", "CVCCVC", "CVCV")),
    "qad": ("zxqkvwjh", "aeiouy", ("CVCVC", "CVCCV", "VCCVC")),
}


def stable_int(*parts) -> int:
    h = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:8], "big")


def stable_rng(*parts) -> random.Random:
    return random.Random(stable_int(*parts))


# --------------------------------------------------------------------------- English lexicon

PEOPLE = tuple((
    "Alice Bruno Carla Daniel Elena Farid Greta Hugo Ines Jonas Kira Leo Maya Nils Olga Pablo "
    "Rosa Samir Tara Umar Vera Walter Xenia Yusuf Zoe Anton Bianca Cyril Dora Emil Fiona Gustav "
    "Hanna Igor Julia Karl Lina Marco Nora Oskar"
).split())

PLACES = (
    "Oakridge", "Millbrook", "Port Alda", "Redwater", "Stonefield", "Lake Vira", "Ashford",
    "Brindle", "Cape Soro", "Dunmore", "Elmstead", "Fairhaven", "Glenrock", "Hollow Bay",
    "Ivybridge", "Kestrel Point", "Larkspur", "Marrow Hill", "Northgate", "Oldcastle",
)

ORGS = (
    "Acme Group", "Blue Harbor Bank", "Cobalt Labs", "Delta Freight", "Evergreen Foods",
    "Falcon Motors", "Granite Works", "Helix Media", "Juniper Press", "Kite Systems",
    "Lumen Energy", "Orbit Textiles",
)

#: class -> [(form A, form B), ...]; the class word is the hypernym
OBJECTS = {
    "vehicle": [("car", "automobile"), ("bicycle", "bike"), ("boat", "vessel"), ("truck", "lorry"),
                ("bus", "coach"), ("van", "wagon")],
    "animal": [("dog", "hound"), ("cat", "kitty"), ("horse", "steed"), ("rabbit", "bunny"),
               ("pig", "hog"), ("ox", "bullock")],
    "tool": [("shovel", "spade"), ("hammer", "mallet"), ("knife", "blade"), ("rope", "cord"),
             ("saw", "handsaw"), ("drill", "borer")],
    "garment": [("coat", "jacket"), ("hat", "cap"), ("sweater", "jumper"), ("trousers", "pants"),
                ("scarf", "muffler"), ("shirt", "blouse")],
    "food": [("soup", "broth"), ("cookie", "biscuit"), ("candy", "sweet"), ("pasta", "noodles"),
             ("bread", "loaf"), ("cake", "pastry")],
    "furniture": [("sofa", "couch"), ("cupboard", "closet"), ("rug", "carpet"), ("lamp", "lantern"),
                  ("chair", "seat"), ("bed", "bunk")],
    "container": [("cup", "mug"), ("bottle", "flask"), ("jar", "pot"), ("box", "crate"),
                  ("bag", "sack"), ("basket", "hamper")],
}

#: dimension -> ((pole 0 forms), (pole 1 forms)); the two poles are antonyms
ADJECTIVES = {
    "size": (("big", "large"), ("small", "little")),
    "age": (("new", "modern"), ("old", "ancient")),
    "cleanliness": (("clean", "spotless"), ("dirty", "filthy")),
    "price": (("cheap", "inexpensive"), ("expensive", "costly")),
    "weight": (("heavy", "weighty"), ("light", "lightweight")),
    "temperature": (("hot", "boiling"), ("cold", "freezing")),
    "wetness": (("wet", "damp"), ("dry", "parched")),
    "fullness": (("full", "brimming"), ("empty", "vacant")),
    "speed": (("fast", "quick"), ("slow", "sluggish")),
    "hardness": (("soft", "squishy"), ("hard", "firm")),
    "integrity": (("broken", "damaged"), ("intact", "whole")),
}

#: adjective dimensions each object class prefers (selectional preference of attributes)
CLASS_DIMS = {
    "vehicle": ("size", "age", "cleanliness", "price", "speed", "integrity"),
    "animal": ("size", "age", "cleanliness", "speed", "weight", "wetness"),
    "tool": ("size", "age", "weight", "price", "integrity", "cleanliness"),
    "garment": ("cleanliness", "wetness", "age", "price", "hardness", "temperature"),
    "food": ("temperature", "hardness", "price", "size", "weight", "age"),
    "furniture": ("size", "age", "cleanliness", "price", "hardness", "weight"),
    "container": ("fullness", "size", "cleanliness", "integrity", "weight", "wetness"),
}

#: verb -> (((base, past) form A, (base, past) form B), preferred object classes, valence)
VERBS = {
    "buy": ((("buy", "bought"), ("purchase", "purchased")), "*", 0),
    "sell": ((("sell", "sold"), ("vend", "vended")), "*", 0),
    "give": ((("give", "gave"), ("hand", "handed")), "*", 0),
    "receive": ((("receive", "received"), ("get", "got")), "*", 0),
    "lend": ((("lend", "lent"), ("loan", "loaned")), "*", 0),
    "borrow": ((("borrow", "borrowed"), ("take", "took")), "*", 0),
    "drive": ((("drive", "drove"), ("steer", "steered")), ("vehicle",), 0),
    "feed": ((("feed", "fed"), ("nourish", "nourished")), ("animal",), 0),
    "cook": ((("cook", "cooked"), ("prepare", "prepared")), ("food",), 0),
    "eat": ((("eat", "ate"), ("consume", "consumed")), ("food",), 0),
    "wear": ((("wear", "wore"), ("don", "donned")), ("garment",), 0),
    "use": ((("use", "used"), ("employ", "employed")), ("tool",), 0),
    "carry": ((("carry", "carried"), ("haul", "hauled")), ("container", "tool", "furniture"), 0),
    "paint": ((("paint", "painted"), ("colour", "coloured")), ("vehicle", "furniture", "tool"), 0),
    # causal verbs (see CAUSAL)
    "drop": ((("drop", "dropped"), ("fumble", "fumbled")), ("container", "tool", "food"), 0),
    "heat": ((("heat", "heated"), ("warm", "warmed")), ("food", "container"), 0),
    "chill": ((("chill", "chilled"), ("cool", "cooled")), ("food", "container"), 0),
    "wash": ((("wash", "washed"), ("scrub", "scrubbed")),
             ("vehicle", "garment", "furniture", "animal", "container"), 0),
    "soak": ((("soak", "soaked"), ("drench", "drenched")), ("garment", "animal", "furniture"), 0),
    "wipe": ((("wipe", "wiped"), ("towel", "towelled")), ("vehicle", "furniture", "container", "tool"), 0),
    "fill": ((("fill", "filled"), ("load", "loaded")), ("container",), 0),
    "drain": ((("drain", "drained"), ("tip", "tipped")), ("container",), 0),
    "muddy": ((("muddy", "muddied"), ("stain", "stained")), ("garment", "vehicle", "animal"), 0),
    "repair": ((("repair", "repaired"), ("fix", "fixed")), ("vehicle", "tool", "furniture"), 0),
    # sentiment verbs
    "like": ((("like", "liked"), ("enjoy", "enjoyed")), "*", 1),
    "praise": ((("praise", "praised"), ("admire", "admired")), "*", 1),
    "love": ((("love", "loved"), ("adore", "adored")), "*", 1),
    "recommend": ((("recommend", "recommended"), ("endorse", "endorsed")), "*", 1),
    "hate": ((("hate", "hated"), ("detest", "detested")), "*", -1),
    "blame": ((("blame", "blamed"), ("criticize", "criticized")), "*", -1),
    "dislike": ((("dislike", "disliked"), ("resent", "resented")), "*", -1),
    "avoid": ((("avoid", "avoided"), ("shun", "shunned")), "*", -1),
}

#: causal rules: action verb -> (adjective dimension, pole) of the resulting state
CAUSAL = {
    "drop": ("integrity", 0), "heat": ("temperature", 0), "chill": ("temperature", 1),
    "wash": ("cleanliness", 0), "soak": ("wetness", 0), "wipe": ("wetness", 1),
    "fill": ("fullness", 0), "drain": ("fullness", 1), "muddy": ("cleanliness", 1),
    "repair": ("integrity", 1),
}

#: transfer verbs and their converses: (verb, its preposition, converse verb, its preposition)
CONVERSES = {"buy": ("from", "sell", "to"), "sell": ("to", "buy", "from"),
             "give": ("to", "receive", "from"), "receive": ("from", "give", "to"),
             "lend": ("to", "borrow", "from"), "borrow": ("from", "lend", "to")}

#: function words (English); the toy languages get their own forms
FUNCTION = {
    "det": "the", "pos": "indeed", "neg": "never", "and": "and", "then": "then",
    "became": "became", "is": "is", "kind_of": "kind", "of": "of", "did": "did",
    "in": "in", "at": "at", "from": "from", "to": "to", "for": "for", "with": "with",
    "worked": "worked", "visited": "visited", "met": "met", "a": "a", "because": "because",
    "so": "so",
}

CLASS_FUNCTION = {c: c for c in OBJECTS}  # hypernym words ("vehicle", ...)


# --------------------------------------------------------------------------- world

@dataclass
class World:
    """The lexicon of every language plus the world's facts and preferences."""

    seed: int
    languages: tuple
    people: tuple = PEOPLE
    places: tuple = PLACES
    orgs: tuple = ORGS
    #: key -> {lang: surface}; keys: ("obj", concept, v) ("adj", dim, pole, v) ("verb", verb, v)
    #: ("cls", class) ("fn", name)
    lex: dict = field(default_factory=dict)
    #: English base forms of verbs (for questions): ("verb", verb, v) -> base
    en_base: dict = field(default_factory=dict)
    #: which keys each language shares with English
    shared: dict = field(default_factory=dict)
    #: object concept -> class
    obj_class: dict = field(default_factory=dict)
    #: object concept -> preferred adjective dimensions (per-object subset, seed-dependent)
    obj_dims: dict = field(default_factory=dict)
    #: person -> favourite places / verbs (corpus selectional preferences)
    person_places: dict = field(default_factory=dict)
    person_org: dict = field(default_factory=dict)
    #: memo of derived lists (objects per verb, ...), filled lazily
    cache: dict = field(default_factory=dict, repr=False)

    def surface(self, key, lang: str) -> str:
        return self.lex[key][lang]

    def memo(self, key, fn):
        if key not in self.cache:
            self.cache[key] = fn()
        return self.cache[key]

    @property
    def objects(self):
        return self.memo("objects", lambda: sorted(self.obj_class))

    def objects_of(self, cls):
        return self.memo(("objects_of", cls), lambda: [o for o in self.objects if self.obj_class[o] == cls])

    def verbs_for(self, obj, verbs=None):
        """Verbs (of ``verbs``, default all) whose selectional preference admits ``obj``."""
        def compute():
            cls = self.obj_class[obj]
            return [v for v in (verbs or VERBS) if VERBS[v][1] == "*" or cls in VERBS[v][1]]
        return self.memo(("verbs_for", obj, tuple(verbs or ())), compute)

    def objects_for(self, verb):
        """Objects that ``verb`` admits."""
        return self.memo(("objects_for", verb),
                         lambda: [o for o in self.objects if verb in self.verbs_for(o)])

    def to_json(self) -> dict:
        return {
            "seed": self.seed, "languages": list(self.languages),
            "people": list(self.people), "places": list(self.places), "orgs": list(self.orgs),
            "obj_class": self.obj_class, "obj_dims": {k: list(v) for k, v in self.obj_dims.items()},
            "lexicon": [{"key": list(k), **v} for k, v in sorted(self.lex.items())],
            "shared_fraction": {lang: self.shared_fraction(lang) for lang in self.languages},
        }

    def shared_fraction(self, lang: str, content_only: bool = True) -> float:
        keys = [k for k in self.lex if not content_only or k[0] != "fn"]
        return sum(1 for k in keys if self.lex[k][lang] == self.lex[k]["en"]) / len(keys)


def _pseudo_word(rng: random.Random, lang: str) -> str:
    cons, vows, shapes = PHONOLOGY[lang]
    shape = rng.choice(shapes)
    return "".join(rng.choice(cons) if ch == "C" else rng.choice(vows) for ch in shape)


def homographs(seed: int) -> list[tuple[tuple, tuple]]:
    """``(key, key it is spelt like)``: each form of every verb takes the same-numbered form of an
    object noun (a seed-dependent pairing per form; a verb with a selectional preference never
    takes a noun of a class it prefers)."""
    verbs = sorted(VERBS)
    obj_class = {forms[0]: cls for cls, pairs in OBJECTS.items() for forms in pairs}
    pairs = []
    for v in (0, 1):
        free = sorted(obj_class)
        stable_rng(seed, "homographs", v).shuffle(free)
        for verb in verbs:
            prefers = VERBS[verb][1]
            noun = next(o for o in free if prefers == "*" or obj_class[o] not in prefers)
            free.remove(noun)
            pairs.append((("verb", verb, v), ("obj", noun, v)))
    return pairs


def build_world(seed: int = 0, languages=LANGUAGES) -> World:
    languages = tuple(languages)
    assert languages[0] == "en", "English must come first"
    for lang in languages[1:]:
        if lang not in GRAMMARS:
            raise ValueError(f"unknown toy language {lang!r}; known: {sorted(GRAMMARS)}")
    w = World(seed=seed, languages=languages)
    en = {}
    for cls, pairs in OBJECTS.items():
        en[("cls", cls)] = cls
        for forms in pairs:
            concept = forms[0]
            w.obj_class[concept] = cls
            for v, f in enumerate(forms):
                en[("obj", concept, v)] = f
    for dim, poles in ADJECTIVES.items():
        for pole, forms in enumerate(poles):
            for v, f in enumerate(forms):
                en[("adj", dim, pole, v)] = f
    for verb, (forms, _, _) in VERBS.items():
        for v, (base, past) in enumerate(forms):
            en[("verb", verb, v)] = past
            w.en_base[("verb", verb, v)] = base
    for name, f in FUNCTION.items():
        en[("fn", name)] = f

    reserved = {s.lower() for s in en.values()} | {s.lower() for s in w.en_base.values()}
    reserved |= {p.lower() for n in PEOPLE + PLACES + ORGS for p in n.split()}
    # nested sharing: rank word types once; a language shares the lowest round(share * N)
    keys = sorted(en)
    content = sorted((k for k in keys if k[0] != "fn"), key=lambda k: stable_int(seed, "share", k))
    func = sorted((k for k in keys if k[0] == "fn"), key=lambda k: stable_int(seed, "share", k))
    lex = {k: {"en": en[k]} for k in keys}
    used = set(reserved)
    for lang in languages[1:]:
        g = GRAMMARS[lang]
        shared = set(content[: round(g.share * len(content))]) | set(func[: round(g.share * len(func))])
        w.shared[lang] = shared
        rng = stable_rng(seed, "pseudo", lang)
        for k in keys:
            if k in shared:
                lex[k][lang] = en[k]
                continue
            while True:
                word = _pseudo_word(rng, lang)
                if word not in used and len(word) >= 3:
                    used.add(word)
                    break
            lex[k][lang] = word
    w.shared["en"] = set(keys)
    for verb_key, noun_key in homographs(seed):
        for lang in languages:
            lex[verb_key][lang] = lex[noun_key][lang]
    w.lex = lex

    # selectional preferences specific to this seed: each object prefers 3 of its class dims
    for obj in w.objects:
        dims = list(CLASS_DIMS[w.obj_class[obj]])
        stable_rng(seed, "dims", obj).shuffle(dims)
        w.obj_dims[obj] = tuple(sorted(dims[:4]))
    for i, p in enumerate(PEOPLE):
        r = stable_rng(seed, "person", p)
        w.person_places[p] = tuple(r.sample(PLACES, 3))
        w.person_org[p] = r.choice(ORGS)
    return w

"""Toy twins of the real datasets, in each dataset's exact Hub schema (column names + arrow types).

``TWINS`` maps ``(repo, config)`` to a builder; a builder returns ``{split: pa.Table}``.
"""

from __future__ import annotations

import pyarrow as pa

from xstilts.core.arrow import columns_table
from xstilts.toy import items as I
from xstilts.toy.render import Clause, Renderer, Token, detokenize
from xstilts.toy.world import CAUSAL, World, stable_int, stable_rng

NLI_NAMES = ("entailment", "neutral", "contradiction")

SCHEMAS = {
    ("nyu-mll/glue", "mnli"): pa.schema([("premise", pa.string()), ("hypothesis", pa.string()),
                                         ("label", pa.int64()), ("idx", pa.int32())]),
    ("facebook/anli", "default"): pa.schema([("uid", pa.string()), ("premise", pa.string()),
                                            ("hypothesis", pa.string()), ("label", pa.int64()),
                                            ("reason", pa.string())]),
    ("nyu-mll/glue", "qqp"): pa.schema([("question1", pa.string()), ("question2", pa.string()),
                                        ("label", pa.int64()), ("idx", pa.int32())]),
    ("nyu-mll/glue", "sst2"): pa.schema([("sentence", pa.string()), ("label", pa.int64()),
                                         ("idx", pa.int32())]),
    ("Rowan/hellaswag", "default"): pa.schema([
        ("ind", pa.int64()), ("activity_label", pa.string()), ("ctx_a", pa.string()),
        ("ctx_b", pa.string()), ("ctx", pa.string()), ("endings", pa.list_(pa.string())),
        ("source_id", pa.string()), ("split", pa.string()), ("split_type", pa.string()),
        ("label", pa.string())]),
    ("tau/commonsense_qa", "default"): pa.schema([
        ("id", pa.string()), ("question", pa.string()), ("question_concept", pa.string()),
        ("choices", pa.struct([("label", pa.list_(pa.string())), ("text", pa.list_(pa.string()))])),
        ("answerKey", pa.string())]),
    ("allenai/cosmos_qa", "default"): pa.schema(
        [("id", pa.string()), ("context", pa.string()), ("question", pa.string())]
        + [(f"answer{i}", pa.string()) for i in range(4)] + [("label", pa.int64())]),
    ("google/xtreme", "XNLI"): pa.schema([("language", pa.string()), ("sentence1", pa.string()),
                                          ("sentence2", pa.string()), ("gold_label", pa.string())]),
    ("google/xtreme", "PAWS-X"): pa.schema([("sentence1", pa.string()), ("sentence2", pa.string()),
                                            ("label", pa.string())]),
    ("cambridgeltl/xcopa", "*"): pa.schema([
        ("premise", pa.string()), ("choice1", pa.string()), ("choice2", pa.string()),
        ("question", pa.string()), ("label", pa.int64()), ("idx", pa.int32()),
        ("changed", pa.bool_())]),
    ("aps/super_glue", "copa"): pa.schema([
        ("premise", pa.string()), ("choice1", pa.string()), ("choice2", pa.string()),
        ("question", pa.string()), ("idx", pa.int32()), ("label", pa.int64())]),
}


def table(schema: pa.Schema, rows: list) -> pa.Table:
    """The table of ``rows`` (dicts holding at least every column of ``schema``)."""
    return columns_table(schema, {f.name: [r[f.name] for r in rows] for f in schema})


def hex_id(*parts, n=32) -> str:
    out = ""
    i = 0
    while len(out) < n:
        out += f"{stable_int(*parts, i):016x}"
        i += 1
    return out[:n]


def uuid_like(*parts) -> str:
    h = hex_id(*parts)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


class TwinBuilder:
    def __init__(self, world: World, seed: int, n_train: int, n_dev: int, n_test: int):
        self.w = world
        self.r = Renderer(world)
        self.seed = seed
        self.n = {"train": n_train, "dev": n_dev, "test": n_test}
        self.toy_langs = tuple(l for l in world.languages if l != "en")

    def rng(self, *parts):
        return stable_rng(self.seed, "twin", *parts)

    def en(self, clauses, joiner="and") -> str:
        return self.r.text(clauses, "en", joiner)

    # ------------------------------------------------------------------ NLI family
    def nli_items(self, name, size, n_clauses, hard):
        rng = self.rng(name, size)
        labels = I.balanced_labels(rng, self.n[size], 3)
        return [I.nli_item(rng, self.w, lab, n_clauses, hard) for lab in labels]

    def nli_render(self, it, lang, paragraph=False):
        premise = (" ".join(self.r.text(c, lang) for c in it["premise"]) if paragraph
                   else self.r.text(it["premise"], lang))
        return premise, self.r.text(it["hypothesis"], lang)

    def mnli(self):
        sch = SCHEMAS[("nyu-mll/glue", "mnli")]
        out = {}
        for split, size in (("train", "train"), ("validation_matched", "dev")):
            rows = []
            for i, it in enumerate(self.nli_items("mnli", size, 1, False)):
                p, h = self.nli_render(it, "en")
                rows.append({"premise": p, "hypothesis": h, "label": it["label"], "idx": i})
            out[split] = table(sch, rows)
        return out

    def anli(self):
        sch = SCHEMAS[("facebook/anli", "default")]
        out = {}
        for split, size in (("train_r1", "train"), ("dev_r1", "dev"), ("test_r1", "test")):
            rows = []
            for i, it in enumerate(self.nli_items("anli", size, 3, True)):
                p, h = self.nli_render(it, "en", paragraph=True)
                reason = I.NLI_REASONS[it["edit"]].format(s=it["subject"])
                rows.append({"uid": uuid_like(self.seed, "anli", size, i), "premise": p,
                             "hypothesis": h, "label": it["label"], "reason": reason})
            out[split] = table(sch, rows)
        return out

    def xnli(self):
        sch = SCHEMAS[("google/xtreme", "XNLI")]
        out = {}
        for split, size in (("validation", "dev"), ("test", "test")):
            its = self.nli_items("xnli", size, 1, False)
            rows = []
            for lang in self.w.languages:
                for it in its:
                    p, h = self.nli_render(it, lang)
                    rows.append({"language": lang, "sentence1": p, "sentence2": h,
                                 "gold_label": NLI_NAMES[it["label"]]})
            out[split] = table(sch, rows)
        return out

    # ------------------------------------------------------------------ paraphrase
    def qqp(self):
        sch = SCHEMAS[("nyu-mll/glue", "qqp")]
        out = {}
        for split, size in (("train", "train"), ("validation", "dev")):
            rng = self.rng("qqp", size)
            rows = []
            for i, lab in enumerate(I.balanced_labels(rng, self.n[size], 2)):
                it = I.qqp_item(rng, self.w, lab)
                rows.append({"question1": self.en(it["a"]), "question2": self.en(it["b"]),
                             "label": lab, "idx": i})
            out[split] = table(sch, rows)
        return out

    def pawsx(self):
        """{lang: {split: table}}; train for English only."""
        sch = SCHEMAS[("google/xtreme", "PAWS-X")]
        out = {lang: {} for lang in self.w.languages}
        for split, size in (("train", "train"), ("validation", "dev"), ("test", "test")):
            rng = self.rng("pawsx", size)
            its = [I.paws_item(rng, self.w, lab) for lab in I.balanced_labels(rng, self.n[size], 2)]
            for lang in self.w.languages:
                if split == "train" and lang != "en":
                    continue
                rows = [{"sentence1": self.r.text(it["a"], lang), "sentence2": self.r.text(it["b"], lang),
                         "label": str(it["label"])} for it in its]
                out[lang][split] = table(sch, rows)
        return out

    # ------------------------------------------------------------------ sentiment
    def sst2(self):
        sch = SCHEMAS[("nyu-mll/glue", "sst2")]
        out = {}
        for split, size in (("train", "train"), ("validation", "dev")):
            rng = self.rng("sst2", size)
            rows = [{"sentence": self.en(I.sst_item(rng, self.w, lab)["a"]), "label": lab, "idx": i}
                    for i, lab in enumerate(I.balanced_labels(rng, self.n[size], 2))]
            out[split] = table(sch, rows)
        return out

    # ------------------------------------------------------------------ causal / commonsense
    def copa_items(self, name, size):
        rng = self.rng(name, size)
        n = self.n[size]
        qs = I.balanced_labels(rng, n, 2)
        labels = I.balanced_labels(rng, n, 2)
        return [I.copa_item(rng, self.w, lab, ("cause", "effect")[q]) for lab, q in zip(labels, qs)]

    def copa_row(self, it, lang, i):
        return {"premise": self.r.text(it["premise"], lang),
                "choice1": self.r.text(it["choices"][0], lang),
                "choice2": self.r.text(it["choices"][1], lang),
                "question": it["question"], "label": it["label"], "idx": i, "changed": False}

    def copa(self):
        sch = SCHEMAS[("aps/super_glue", "copa")]
        return {split: table(sch, [self.copa_row(it, "en", i) for i, it in enumerate(self.copa_items("copa", size))])
                for split, size in (("train", "train"), ("validation", "dev"))}

    def xcopa(self):
        sch = SCHEMAS[("cambridgeltl/xcopa", "*")]
        out = {lang: {} for lang in self.toy_langs}
        for split, size in (("validation", "dev"), ("test", "test")):
            its = self.copa_items("xcopa", size)
            for lang in self.toy_langs:
                out[lang][split] = table(sch, [self.copa_row(it, lang, i) for i, it in enumerate(its)])
        return out

    def _subject_split(self, c: Clause):
        """English clause -> (subject text, rest of the clause text + '.')."""
        toks = self.r.clause(c, "en")
        n = len(self.r.np(c.subj, "en", "subj"))
        return detokenize(toks[:n])[0], detokenize(toks[n:] + [Token(".", "PUNCT")])[0]

    def hellaswag(self):
        sch = SCHEMAS[("Rowan/hellaswag", "default")]
        out = {}
        for split, size, tag in (("train", "train", "train"), ("validation", "dev", "val")):
            rng = self.rng("hellaswag", size)
            rows = []
            for i, lab in enumerate(I.balanced_labels(rng, self.n[size], 4)):
                it = I.mc_effect_item(rng, self.w, 4, lab)
                ctx_a = self.en(it["premise"])
                endings = []
                for rule in it["rules"]:
                    subj, rest = self._subject_split(I.state_clause(rng, it["object"], rule))
                    endings.append(rest)
                ctx_b = "then " + subj
                verb = it["premise"].verb
                rows.append({"ind": i, "activity_label": self.w.en_base[verb].capitalize(),
                             "ctx_a": ctx_a, "ctx_b": ctx_b, "ctx": f"{ctx_a} {ctx_b}",
                             "endings": endings, "source_id": f"toy~{size}~{i}", "split": tag,
                             "split_type": "indomain", "label": str(lab)})
            out[split] = table(sch, rows)
        return out

    def commonsense_qa(self):
        sch = SCHEMAS[("tau/commonsense_qa", "default")]
        lex = self.w.lex
        out = {}
        for split, size in (("train", "train"), ("validation", "dev")):
            rng = self.rng("csqa", size)
            rows = []
            for i, lab in enumerate(I.balanced_labels(rng, self.n[size], 5)):
                it = I.csqa_item(rng, self.w, lab)
                k = it["kind"]
                if k == "hypernym":
                    q = f"Which of these things is a kind of {it['cls']}?"
                    concept = it["cls"]
                    texts = [lex[c]["en"] for c in it["choices"]]
                elif k == "selection":
                    base = self.w.en_base[("verb", it["verb"], rng.randrange(2))]
                    q = f"What did {it['who']} indeed {base}?"
                    concept = base
                    texts = [lex[c]["en"] for c in it["choices"]]
                else:
                    o = it["object"]
                    noun = lex[("obj", o.concept, o.v)]["en"]
                    concept = noun
                    if k == "effect":
                        q = f"{self.en(it['premise'])} What did the {noun} become?"
                        texts = [lex[("adj",) + CAUSAL[r] + (rng.randrange(2),)]["en"] for r in it["rules"]]
                    else:
                        good = it["rules"][lab]
                        st = I.state_clause(rng, o, good)
                        q = f"{self.en(st)} What did {it['who']} do to the {noun}?"
                        texts = [lex[("verb", r, rng.randrange(2))]["en"] for r in it["rules"]]
                rows.append({"id": hex_id(self.seed, "csqa", size, i), "question": q,
                             "question_concept": concept,
                             "choices": {"label": list("ABCDE"), "text": texts},
                             "answerKey": "ABCDE"[lab]})
            out[split] = table(sch, rows)
        return out

    def cosmos_qa(self):
        sch = SCHEMAS[("allenai/cosmos_qa", "default")]
        lex = self.w.lex
        out = {}
        for split, size in (("train", "train"), ("validation", "dev")):
            rng = self.rng("cosmos", size)
            rows = []
            for i, lab in enumerate(I.balanced_labels(rng, self.n[size], 4)):
                it = I.cosmos_item(rng, self.w, lab)
                ev = it["events"][it["target"]]
                o = ev.obj
                noun = lex[("obj", o.concept, o.v)]["en"]
                context = " ".join(self.en(e) for e in it["events"])
                if it["kind"] == "what":
                    q = f"What happened to the {noun}?"
                    answers = [self.en(I.state_clause(rng, o, r)) for r in it["choice_rules"]]
                else:
                    st = I.state_clause(rng, o, it["rules"][it["target"]])
                    adj = lex[("adj",) + st.adj]["en"]
                    q = f"Why did the {noun} become {adj}?"
                    answers = ["Because " + self.en(ev.with_(verb=("verb", r, rng.randrange(2)), pps=()))
                               for r in it["choice_rules"]]
                row = {"id": hex_id(self.seed, "cosmos", size, i, n=24), "context": context,
                       "question": q, "label": lab}
                row.update({f"answer{j}": a for j, a in enumerate(answers)})
                rows.append(row)
            out[split] = table(sch, rows)
        return out

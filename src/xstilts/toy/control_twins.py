"""Planted controls: toy-only tasks whose intermediate-task effect is known by construction
(ground truth in ``docs/controls.md``; registry entries in ``xstilts.tasks.catalog.controls``).

* ``objclass`` (target, classification, GLUE SST-2 schema ``sentence,label,idx``, one config per
  language ``objclass.<lang>``): one clause with exactly one common-noun object; the label is
  the object's class (the world's 7 ``OBJECTS`` classes).  The verb is always one whose
  selectional preference is ``"*"`` (no verb cue), the adjective dimension is drawn from every
  dimension (not the class's preferred ones: no adjective cue), the hypernym class word never
  occurs; names, places, transfer partners, polarity and topicalisation are drawn independently
  of the label, so only the noun reveals the class.  The English training set is small
  (``n_objclass_train``, 6 per class by default: it cannot cover the 84 noun forms); dev and
  test are ``n_dev`` / ``n_test`` rounded down to a multiple of 7; the test sets are parallel
  (the same items rendered in English and every toy language).  Labels are exactly balanced.
* ``objclass_tags`` (planted intermediate, tagging, ``tokens<TAB>tags``): corpus sentences
  (any verbs), every world-object noun tagged with its class, every other token ``O``.  It
  teaches exactly the noun -> class map that the data-limited target lacks: expected gain > 0.
* ``polarity_tags`` (null intermediate): the *same* sentences, the polarity word
  (``indeed``/``never``) tagged ``POS``/``NEG``, every other token ``O``: the inputs are
  identical to the planted task's, only the labels differ, and they are unrelated to object
  class: expected gain about 0.
"""

from __future__ import annotations

import pyarrow as pa

from xstilts.core.arrow import columns_table
from xstilts.core.registry import TASKS
from xstilts.toy import items as I
from xstilts.toy.render import Clause, Name, Obj
from xstilts.toy.tagging_twins import write_tsv
from xstilts.toy.world import ADJECTIVES, CONVERSES, OBJECTS, VERBS

OBJ_CLASSES = TASKS["objclass"].labels
CONTROLS_REPO = TASKS["objclass"].train.repo
assert OBJ_CLASSES == tuple(OBJECTS), "the registry's class order must be the world's"

SST2_SCHEMA = pa.schema([("sentence", pa.string()), ("label", pa.int64()), ("idx", pa.int32())])
#: verbs that admit every object class: the verb carries no class information
STAR_VERBS = tuple(v for v in VERBS if VERBS[v][1] == "*")
N_CLASSES = len(OBJ_CLASSES)
POLARITY_TAG = {"pos": "POS", "neg": "NEG"}


def objclass_item(rng, w, label: int) -> Clause:
    """One clause whose only class cue is its object noun."""
    concept = rng.choice(w.objects_of(OBJ_CLASSES[label]))
    verb = rng.choice(STAR_VERBS)
    subj, other = rng.sample(w.people, 2)
    adjs = ((rng.choice(sorted(ADJECTIVES)), rng.randrange(2), rng.randrange(2)),) if rng.random() < 0.7 else ()
    pps = []
    if rng.random() < 0.5:
        pps.append(("in", Name(rng.choice(w.places), "LOC")))
    if verb in CONVERSES and rng.random() < 0.5:
        pps.append((CONVERSES[verb][0], Name(other, "PER")))
    return Clause("act", Name(subj, "PER"), rng.choice(("pos", "neg")),
                  ("verb", verb, rng.randrange(2)), Obj(concept, rng.randrange(2), adjs), tuple(pps),
                  front=bool(pps) and rng.random() < 0.2)


def _balanced_size(n: int) -> int:
    return max(N_CLASSES, n - n % N_CLASSES)


def objclass_tables(b, n_train: int) -> dict:
    """``{config: {split: table}}``: ``objclass.en`` train/validation/test, ``objclass.<toy>``
    test (the same items as the English test set)."""
    if n_train % N_CLASSES:
        raise ValueError(f"n_objclass_train must be a multiple of {N_CLASSES} (balanced labels), "
                         f"got {n_train}")
    sizes = {"train": n_train, "dev": _balanced_size(b.n["dev"]), "test": _balanced_size(b.n["test"])}
    out = {f"objclass.{lang}": {} for lang in b.w.languages}
    for split, size in (("train", "train"), ("validation", "dev"), ("test", "test")):
        rng = b.rng("objclass", size)
        items = [(objclass_item(rng, b.w, lab), lab) for lab in I.balanced_labels(rng, sizes[size], N_CLASSES)]
        for lang in b.w.languages if split == "test" else ("en",):
            rows = {"sentence": [b.r.text(c, lang) for c, _ in items],
                    "label": [lab for _, lab in items], "idx": list(range(len(items)))}
            out[f"objclass.{lang}"][split] = columns_table(SST2_SCHEMA, rows)
    return out


def object_tags(toks, w) -> list[str]:
    return [w.obj_class[t.key[1]] if t.key[:1] == ("obj",) else "O" for t in toks]


def polarity_tags(toks) -> list[str]:
    return [POLARITY_TAG[t.key[1]] if t.slot == "pol" else "O" for t in toks]


def tagging_texts(b) -> dict:
    """``{config: {split: text}}`` of ``tokens<TAB>tags`` lines: ``objclass_tags`` and
    ``polarity_tags`` over the same English corpus sentences."""
    out = {"objclass_tags": {}, "polarity_tags": {}}
    for split, size in (("train", "train"), ("dev", "dev")):
        rng = b.rng("controls", "tags", size)
        obj_lines, pol_lines = [], []
        for _ in range(b.n[size]):
            clauses, joiner = I.corpus_sentence(rng, b.w)
            toks = b.r.sentence(clauses, "en", joiner)
            words = " ".join(t.text for t in toks)
            obj_lines.append(f"{words}\t{' '.join(object_tags(toks, b.w))}\n")
            pol_lines.append(f"{words}\t{' '.join(polarity_tags(toks))}\n")
        out["objclass_tags"][split] = "".join(obj_lines)
        out["polarity_tags"][split] = "".join(pol_lines)
    return out


def write_control_twins(b, out_root, write_table, n_objclass_train: int) -> dict:
    """Write the three control twins under ``out_root/hub/xstilts/toy-controls``;
    ``{relative path: (path, rows)}``."""
    files = {}
    for config, splits in objclass_tables(b, n_objclass_train).items():
        for split, tab in splits.items():
            rel, p, n = write_table(out_root, CONTROLS_REPO, config, split, tab)
            files[rel] = (p, n)
    for config, splits in tagging_texts(b).items():
        for split, text in splits.items():
            rel, p, n = write_tsv(out_root, CONTROLS_REPO, config, split, text)
            files[rel] = (p, n)
    return files

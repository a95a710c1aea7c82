"""Semantic item generators: language-independent clauses for every toy task.

Each generator returns plain dicts of ``Clause`` objects plus the gold label; ``twins.py``
renders them into the Hub schema of each real dataset. Shortcut control (TOY-LESSONS):

* every sentence carries a polarity word (``indeed``/``never``), so negation never changes length;
* all hypotheses / choices use the template of the text they are compared with;
* per label, the "core edit" mixes edits that introduce 0, 1 or 2 words absent from the other
  text, with the same mixture for every label, and label-preserving noise (synonym swaps,
  topicalisation) is applied independently of the label;
* labels are exactly balanced (``balanced_labels``).
"""

from __future__ import annotations

import random

from xstilts.toy.render import Clause, Coord, Name, Num, Obj
from xstilts.toy.world import ADJECTIVES, CAUSAL, CONVERSES, OBJECTS, VERBS, World

ENTAIL, NEUTRAL, CONTRA = 0, 1, 2

ACTION_VERBS = [v for v in VERBS if VERBS[v][2] == 0]
SENTIMENT_VERBS = [v for v in VERBS if VERBS[v][2] != 0]
TRANSFER_VERBS = list(CONVERSES)


def balanced_labels(rng: random.Random, n: int, k: int) -> list:
    labels = [i % k for i in range(n)]
    rng.shuffle(labels)
    return labels


def pick(rng, weights: dict):
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


# --------------------------------------------------------------------------- building blocks

def person(w: World, name: str) -> Name:
    return Name(name, "PER")


def place(name: str) -> Name:
    return Name(name, "LOC")


def rand_adj(rng, w: World, obj: str, exclude_dims=()) -> tuple:
    dims = [d for d in w.obj_dims[obj] if d not in exclude_dims] or [
        d for d in ADJECTIVES if d not in exclude_dims]
    return (rng.choice(dims), rng.randrange(2), rng.randrange(2))


def act_clause(rng, w: World, subj: str, obj: str, verb: str, adj=None, pol=None, places=None,
               extra_pps=()) -> Clause:
    adjs = (adj,) if adj else ()
    pps = tuple(extra_pps)
    if places:
        pps = pps + (("in", place(places)),)
    return Clause("act", person(w, subj), pol or rng.choice(("pos", "neg")),
                  ("verb", verb, rng.randrange(2)), Obj(obj, rng.randrange(2), adjs), pps)


def flip_variant_key(key: tuple) -> tuple:
    return key[:-1] + (1 - key[-1],)


def synonym_noise(rng, c: Clause, p: float) -> Clause:
    """Swap each content word to its other synonym with probability ``p`` (meaning kept)."""
    if c.kind == "act" and c.verb and c.verb[0] == "verb" and rng.random() < p:
        c = c.with_(verb=flip_variant_key(c.verb))
    if isinstance(c.obj, Obj):
        c = c.with_(obj=_obj_noise(rng, c.obj, p))
    elif isinstance(c.obj, Coord):
        c = c.with_(obj=Coord(tuple(_obj_noise(rng, o, p) for o in c.obj.items)))
    if c.kind == "state":
        if isinstance(c.subj, Obj):
            c = c.with_(subj=_obj_noise(rng, c.subj, p))
        if rng.random() < p:
            c = c.with_(adj=flip_variant_key(c.adj))
    return c


def _obj_noise(rng, o: Obj, p: float) -> Obj:
    if not o.hyper and rng.random() < p:
        o = Obj(o.concept, 1 - o.v, o.adjs, o.det, o.hyper)
    adjs = tuple(flip_variant_key(a) if rng.random() < p else a for a in o.adjs)
    return Obj(o.concept, o.v, adjs, o.det, o.hyper)


# --------------------------------------------------------------------------- NLI

#: edit -> weight, per label. Every edit replaces exactly one word of the target fact by a word
#: absent from the premise, so length and overlap carry no label information.
ENTAIL_EDITS = {"syn_adj": 0.2, "syn_obj": 0.2, "syn_verb": 0.2, "hyper": 0.4}
CONTRA_EDITS = {"flip_pol": 0.6, "antonym": 0.4}
NEUTRAL_EDITS = {"swap_subj": 0.3, "other_dim": 0.4, "other_verb": 0.3}
NLI_NOISE = 0.15  # probability of one extra, label-preserving synonym swap in the hypothesis


def nli_item(rng, w: World, label: int, n_clauses: int = 1, hard: bool = False) -> dict:
    """Premise: a fact (plus ``n_clauses - 1`` distractor facts about other people and objects,
    same polarity); hypothesis: the target fact with exactly one word replaced.

    entailment: synonym of the adjective / object / verb, or the object's hypernym under
    positive polarity; contradiction: polarity flipped, or antonym adjective; neutral: another
    person, an adjective of another dimension, another verb (``hard``: hypernym under negation,
    which is not entailed)."""
    people = rng.sample(w.people, n_clauses + 1)
    objs = rng.sample(w.objects, n_clauses)
    use_place = rng.random() < 0.5
    places = rng.sample(w.places, n_clauses)
    pol = rng.choice(("pos", "neg"))
    clauses, used_dims, used_verbs = [], set(), set()
    for i in range(n_clauses):
        verb = rng.choice([v for v in w.verbs_for(objs[i], ACTION_VERBS) if v not in used_verbs])
        used_verbs.add(verb)
        adj = rand_adj(rng, w, objs[i], exclude_dims=used_dims)
        used_dims.add(adj[0])
        clauses.append(act_clause(rng, w, people[i], objs[i], verb, adj, pol=pol,
                                  places=places[i] if use_place else None))
    c = clauses[0]
    rng.shuffle(clauses)
    o = c.obj
    (dim, pole, av) = o.adjs[0]
    if label == ENTAIL:
        weights = dict(ENTAIL_EDITS)
        if c.pol != "pos" and "hyper" in weights:  # "never bought a vehicle" is not entailed
            weights["syn_obj"] = weights.get("syn_obj", 0) + weights.pop("hyper")
    elif label == CONTRA:
        weights = dict(CONTRA_EDITS)
    else:
        weights = dict(NEUTRAL_EDITS)
        if hard and c.pol == "neg":
            weights["hyper_neg"] = weights.get("other_dim", 0.4) / 2
            weights["other_dim"] = weights.get("other_dim", 0.4) / 2
    edit = pick(rng, weights)
    slot = {"syn_adj": "adj", "antonym": "adj", "other_dim": "adj", "syn_obj": "obj", "hyper": "obj",
            "hyper_neg": "obj", "syn_verb": "verb", "other_verb": "verb", "flip_pol": "pol",
            "swap_subj": "subj"}[edit]
    if edit == "syn_adj":
        h = c.with_(obj=Obj(o.concept, o.v, ((dim, pole, 1 - av),)))
    elif edit == "syn_obj":
        h = c.with_(obj=Obj(o.concept, 1 - o.v, o.adjs))
    elif edit == "syn_verb":
        h = c.with_(verb=flip_variant_key(c.verb))
    elif edit in ("hyper", "hyper_neg"):
        h = c.with_(obj=Obj(w.obj_class[o.concept], 0, o.adjs, hyper=True))
    elif edit == "flip_pol":
        h = c.with_(pol="neg" if c.pol == "pos" else "pos")
    elif edit == "antonym":
        h = c.with_(obj=Obj(o.concept, o.v, ((dim, 1 - pole, rng.randrange(2)),)))
    elif edit == "swap_subj":
        h = c.with_(subj=person(w, people[-1]))
    elif edit == "other_dim":
        h = c.with_(obj=Obj(o.concept, o.v, (rand_adj(rng, w, o.concept, exclude_dims=used_dims),)))
    else:  # other_verb
        verbs = [v for v in w.verbs_for(o.concept, ACTION_VERBS) if v not in used_verbs]
        h = c.with_(verb=("verb", rng.choice(verbs), rng.randrange(2)))
    if rng.random() < NLI_NOISE:  # label-independent: one more synonym in another slot
        other = rng.choice([s_ for s_ in ("adj", "obj", "verb") if s_ != slot])
        if other == "verb":
            h = h.with_(verb=flip_variant_key(h.verb))
        elif other == "obj" and not h.obj.hyper:
            h = h.with_(obj=Obj(h.obj.concept, 1 - h.obj.v, h.obj.adjs))
        elif other == "adj":
            h = h.with_(obj=Obj(h.obj.concept, h.obj.v, (flip_variant_key(h.obj.adjs[0]),), hyper=h.obj.hyper))
    return {"premise": clauses, "hypothesis": h, "label": label, "edit": edit,
            "subject": c.subj.text}


NLI_REASONS = {
    "syn_adj": "The statement about {s} is repeated with a synonym.",
    "syn_obj": "The statement about {s} is repeated with a synonym.",
    "syn_verb": "The statement about {s} is repeated with a synonym.",
    "hyper": "What {s} did to the object {s} also did to that kind of thing.",
    "flip_pol": "The statement about {s} is negated.",
    "antonym": "The statement about {s} uses the opposite property.",
    "swap_subj": "The text says nothing about that person.",
    "other_verb": "The text says nothing about that action.",
    "other_dim": "The text says nothing about that property.",
    "hyper_neg": "Not doing it to one thing says nothing about the whole kind.",
}


# --------------------------------------------------------------------------- paraphrase

def transfer_clause(rng, w: World, n_objs: int = 1, question=False) -> Clause:
    a, b = rng.sample(w.people, 2)
    verb = rng.choice(TRANSFER_VERBS)
    objs = rng.sample(w.objects, n_objs)
    dims = set()
    items = []
    for ob in objs:
        adj = rand_adj(rng, w, ob, exclude_dims=dims)
        dims.add(adj[0])
        items.append(Obj(ob, rng.randrange(2), (adj,)))
    obj = items[0] if n_objs == 1 else Coord(tuple(items))
    prep = CONVERSES[verb][0]
    pps = (("in", place(rng.choice(w.places))), (prep, person(w, b)))
    return Clause("act", person(w, a), rng.choice(("pos", "neg")), ("verb", verb, rng.randrange(2)),
                  obj, pps, question=question)


def _converse(c: Clause, swap: bool) -> Clause:
    verb = c.verb[1]
    _, cverb, cprep = CONVERSES[verb]
    place_pp, (_, other) = c.pps
    subj, other2 = (other, c.subj) if swap else (c.subj, other)
    return c.with_(subj=subj, verb=("verb", cverb, c.verb[2]), pps=(place_pp, (cprep, other2)))


def _swap_names(c: Clause) -> Clause:
    place_pp, (prep, other) = c.pps
    return c.with_(subj=other, pps=(place_pp, (prep, c.subj)))


def qqp_item(rng, w: World, label: int) -> dict:
    """Question pairs, the phenomenon of ``paraphrase_edit`` asked as yes/no questions."""
    q1 = transfer_clause(rng, w, 1, question=True)
    q2, edit = paraphrase_edit(rng, w, q1, label)
    if rng.random() < PAWS_FRONT:
        q2 = q2.with_(front=True)
    return {"a": q1, "b": q2, "label": label, "edit": edit}


#: paraphrase edit -> (weight, words new to the other sentence); the same novelty mix per label
PARA_EDITS = {"synonym": 0.7, "converse": 0.1, "same": 0.2}
NONPARA_EDITS = {"flip_pol": 0.25, "antonym": 0.2, "hyper": 0.25, "converse_noswap": 0.1, "swap": 0.2}
PAWS_FRONT = 0.3  # probability of topicalising the place, per sentence (label-independent)


def paraphrase_edit(rng, w: World, s1: Clause, label: int) -> tuple:
    """Second sentence of a paraphrase pair (shared by the QQP and PAWS-X twins).

    paraphrase: one word replaced by its synonym / converse verb with the roles swapped
    ("A bought X from B" = "B sold X to A") / same sentence; non-paraphrase: polarity flipped /
    antonym adjective / object replaced by its hypernym (less specific) / converse verb without
    swapping the roles / the two people swapped ("B bought X from A"). Both labels mix edits adding 0, 1 and 2 new words in the same
    proportions, and swaps keep the bag of words identical."""
    o = s1.obj
    (dim, pole, av) = o.adjs[0]
    if label == 1:
        edit = pick(rng, PARA_EDITS)
        if edit == "synonym":
            which = rng.choice(("verb", "obj", "adj"))
            if which == "verb":
                s2 = s1.with_(verb=flip_variant_key(s1.verb))
            elif which == "obj":
                s2 = s1.with_(obj=Obj(o.concept, 1 - o.v, o.adjs))
            else:
                s2 = s1.with_(obj=Obj(o.concept, o.v, ((dim, pole, 1 - av),)))
        elif edit == "converse":
            s2 = _converse(s1, True)
        else:
            s2 = s1
    else:
        edit = pick(rng, NONPARA_EDITS)
        if edit == "flip_pol":
            s2 = s1.with_(pol="neg" if s1.pol == "pos" else "pos")
        elif edit == "antonym":
            s2 = s1.with_(obj=Obj(o.concept, o.v, ((dim, 1 - pole, rng.randrange(2)),)))
        elif edit == "hyper":  # "the car" -> "the vehicle" loses information
            s2 = s1.with_(obj=Obj(w.obj_class[o.concept], 0, o.adjs, hyper=True))
        elif edit == "converse_noswap":
            s2 = _converse(s1, False)
        else:
            s2 = _swap_names(s1)
    return s2, edit


def paws_item(rng, w: World, label: int) -> dict:
    """PAWS-style pairs of statements (see ``paraphrase_edit``); topicalisation of the place is
    label-independent noise on both sentences."""
    s1 = transfer_clause(rng, w, 1)
    s2, edit = paraphrase_edit(rng, w, s1, label)
    if rng.random() < PAWS_FRONT:
        s1 = s1.with_(front=True)
    if rng.random() < PAWS_FRONT:
        s2 = s2.with_(front=True)
    return {"a": s1, "b": s2, "label": label, "edit": edit}


# --------------------------------------------------------------------------- sentiment

SST_NEG = 0.3  # share of negated sentences (as in real reviews, most are not negated)


def sst_item(rng, w: World, label: int) -> dict:
    """Sentiment = valence of the attitude verb, reversed by ``never``: every sentence has the
    same template, length and polarity slot."""
    pol = "neg" if rng.random() < SST_NEG else "pos"
    want = 1 if label == 1 else -1
    sign = want if pol == "pos" else -want
    verb = rng.choice([v for v in SENTIMENT_VERBS if VERBS[v][2] == sign])
    ob = rng.choice(w.objects)
    c = act_clause(rng, w, rng.choice(w.people), ob, verb, rand_adj(rng, w, ob), pol=pol,
                   places=rng.choice(w.places) if rng.random() < 0.5 else None)
    return {"a": c, "label": label}


# --------------------------------------------------------------------------- causal

def rules_for(w: World, obj: str) -> list:
    """Causal rules (action verbs) applicable to ``obj``."""
    return w.memo(("rules_for", obj), lambda: [v for v in CAUSAL if w.obj_class[obj] in VERBS[v][1]])


def causal_objects(w: World, k: int = 2) -> list:
    """Objects with at least ``k`` applicable causal rules."""
    return w.memo(("causal_objects", k), lambda: [o for o in w.objects if len(rules_for(w, o)) >= k])


def state_clause(rng, obj: Obj, rule: str, pol="pos") -> Clause:
    dim, pole = CAUSAL[rule]
    return Clause("state", obj, pol, adj=(dim, pole, rng.randrange(2)))


def copa_item(rng, w: World, label: int, question: str) -> dict:
    """COPA: an action and the state it causes (``drop -> broken``). The wrong choice is the
    result/cause of another rule on the same object, on the same template."""
    ob = rng.choice(causal_objects(w))
    good, bad = rng.sample(rules_for(w, ob), 2)
    who = rng.choice(w.people)
    o = Obj(ob, rng.randrange(2))
    where = rng.choice(w.places) if rng.random() < 0.3 else None

    def act(rule):
        return act_clause(rng, w, who, ob, rule, pol="pos", places=where).with_(obj=o)

    if question == "effect":
        premise = act(good)
        right, wrong = state_clause(rng, o, good), state_clause(rng, o, bad)
    else:
        premise = state_clause(rng, o, good)
        right, wrong = act(good), act(bad)
    choices = [right, wrong] if label == 0 else [wrong, right]
    return {"premise": premise, "choices": choices, "label": label, "question": question}


def mc_effect_item(rng, w: World, n_choices: int, label: int) -> dict:
    """An action and ``n_choices`` candidate resulting states of the same object."""
    ob = rng.choice(causal_objects(w, 1))
    good = rng.choice(rules_for(w, ob))
    gstate = CAUSAL[good]
    others = [r for r in CAUSAL if r != good and CAUSAL[r] != gstate]
    rng.shuffle(others)
    # distinct states
    bad, seen = [], {gstate}
    for r in others:
        if CAUSAL[r] not in seen:
            bad.append(r)
            seen.add(CAUSAL[r])
        if len(bad) == n_choices - 1:
            break
    rules = bad[:label] + [good] + bad[label:]
    o = Obj(ob, rng.randrange(2))
    who = rng.choice(w.people)
    premise = act_clause(rng, w, who, ob, good, pol="pos").with_(obj=o)
    return {"premise": premise, "object": o, "rules": rules, "label": label, "who": who}


def csqa_item(rng, w: World, label: int) -> dict:
    kind = pick(rng, {"hypernym": 1, "effect": 1, "cause": 1, "selection": 1})
    classes = list(OBJECTS)
    if kind in ("hypernym", "selection"):
        if kind == "hypernym":
            cls = rng.choice(classes)
            verb = None
        else:
            verb = rng.choice([v for v in ACTION_VERBS if VERBS[v][1] != "*" and len(VERBS[v][1]) == 1])
            cls = VERBS[verb][1][0]
        wrong_cls = [c for c in classes if c != cls and (verb is None or c not in VERBS[verb][1])]
        rng.shuffle(wrong_cls)
        cands = [rng.choice(w.objects_of(c)) for c in wrong_cls[:4]]
        cands = cands[:label] + [rng.choice(w.objects_of(cls))] + cands[label:]
        return {"kind": kind, "cls": cls, "verb": verb, "who": rng.choice(w.people),
                "choices": [("obj", c, rng.randrange(2)) for c in cands], "label": label}
    it = mc_effect_item(rng, w, 5, label)
    return {"kind": kind, **it}


def cosmos_item(rng, w: World, label: int) -> dict:
    """Context: four events (person, causal action, object); question about one of them:
    what became of the object (states of the four rules) or why (the four actions)."""
    rules = rng.sample(list(CAUSAL), 4)
    people = rng.sample(w.people, 4)
    events = []
    used = set()
    for r, p in zip(rules, people):
        cands = [o for o in w.objects if w.obj_class[o] in VERBS[r][1] and o not in used]
        ob = rng.choice(cands)
        used.add(ob)
        events.append(act_clause(rng, w, p, ob, r, pol="pos").with_(obj=Obj(ob, rng.randrange(2))))
    t = rng.randrange(4)
    kind = rng.choice(("what", "why"))
    order = list(range(4))
    order.remove(t)
    rng.shuffle(order)
    choice_idx = order[:label] + [t] + order[label:]
    return {"events": events, "rules": rules, "target": t, "kind": kind,
            "choice_rules": [rules[i] for i in choice_idx], "label": label}


# --------------------------------------------------------------------------- corpus

def corpus_sentence(rng, w: World) -> tuple:
    """One corpus sentence ``(clauses, joiner)`` with selectional preferences."""
    kind = pick(rng, {"act": 0.45, "transfer": 0.12, "causal": 0.18, "isa": 0.08, "state": 0.07,
                      "work": 0.10})
    who = rng.choice(w.people)
    pol = "pos" if rng.random() < 0.7 else "neg"
    where = rng.choice(w.person_places[who]) if rng.random() < 0.5 else None
    if kind == "act":
        verb = rng.choice(ACTION_VERBS + SENTIMENT_VERBS)
        ob = rng.choice(w.objects_for(verb))
        pps = (("at", Num(rng.randrange(1, 13))),) if rng.random() < 0.2 else ()
        c = act_clause(rng, w, who, ob, verb, rand_adj(rng, w, ob) if rng.random() < 0.8 else None,
                       pol=pol, places=where, extra_pps=pps)
        return [c.with_(front=bool(c.pps) and rng.random() < 0.2)], "and"
    if kind == "transfer":
        c = transfer_clause(rng, w, rng.choice((1, 1, 2)))
        return [c.with_(front=rng.random() < 0.2)], "and"
    if kind == "causal":
        ob = rng.choice(causal_objects(w, 1))
        rule = rng.choice(rules_for(w, ob))
        o = Obj(ob, rng.randrange(2))
        c1 = act_clause(rng, w, who, ob, rule, pol="pos", places=where).with_(obj=o)
        return [c1, state_clause(rng, Obj(ob, rng.randrange(2)), rule)], "so"
    if kind == "isa":
        ob = rng.choice(w.objects)
        return [Clause("isa", Obj(ob, rng.randrange(2)), pol, cls=w.obj_class[ob])], "and"
    if kind == "state":
        ob = rng.choice(causal_objects(w, 1))
        rule = rng.choice(rules_for(w, ob))
        return [state_clause(rng, Obj(ob, rng.randrange(2), (rand_adj(rng, w, ob, {CAUSAL[rule][0]}),)),
                             rule, pol)], "and"
    org = Name(w.person_org[who], "ORG")
    pps = (("for", org),) + ((("in", place(where)),) if where else ())
    return [Clause("act", person(w, who), pol, ("fn", "worked"), None, pps)], "and"

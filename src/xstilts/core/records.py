"""The artifact records: one owner for the fields of ``eval.json``, ``cost.json`` and the two
``profile.json`` kinds.

Each record type is checked against ``schemas/records.schema.yaml`` when it is written (always
atomically) and when it is read; a problem raises :class:`RecordError` naming the file and the
key.  Training code builds a :class:`CostRecord`, evaluation an :class:`EvalRecord` (with its
:class:`Provenance`), profiling an :class:`InferenceProfile`, the evaluate stage a
:class:`CellCost`; ``xstilts.analysis.aggregate`` reads them back through the same types.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

from xstilts.core.errors import InputError
from xstilts.core.schemas_io import read_schema


class RecordError(InputError, ValueError):
    """A malformed or incomplete record; the message names the file."""


@lru_cache(maxsize=None)
def _validator(kind: str):
    import jsonschema

    root = read_schema("records")
    return jsonschema.Draft202012Validator({**root["$defs"][kind], "$defs": root["$defs"]})


_TYPE_WORDS = {"number": "a number", "integer": "an integer", "string": "a non-empty string",
               "object": "an object", "boolean": "true/false", "array": "a list", "null": "null"}


def _message(err) -> str:
    where = ".".join(str(p) for p in err.absolute_path)
    if err.validator == "required":
        key = err.message.split("'")[1]
        return f"missing key {key!r}" + (f" in {where}" if where else "")
    if err.validator in ("type", "minLength"):
        want = err.validator_value if err.validator == "type" else "string"
        want = [w for w in ([want] if isinstance(want, str) else want) if w != "null"]
        if err.instance is None:
            return f"{where} is null"
        return f"{where or 'the record'} must be {' or '.join(_TYPE_WORDS[w] for w in want)}, got {err.instance!r}"
    if err.validator == "oneOf" and err.instance is not None and not isinstance(err.instance, dict):
        return f"{where} must be an object or null"
    if err.validator == "oneOf":
        best = min((e for e in err.context if e.validator != "type"), key=lambda e: len(e.path), default=None)
        return _message(best) if best is not None else f"{where}: {err.message}"
    if err.validator == "minProperties":
        return f"{where!r} must be a non-empty object"
    return f"{where or 'the record'}: {err.message}"


def _non_finite(obj, where=""):
    if isinstance(obj, float) and not math.isfinite(obj):
        return where
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, list):
        items = enumerate(obj)
    else:
        return None
    for k, v in items:
        bad = _non_finite(v, f"{where}.{k}" if where else str(k))
        if bad is not None:
            return bad
    return None


# The keywords records.schema.yaml uses, checked here without jsonschema (whose import takes
# about 0.05 s, more than a light job's own work).  A valid record needs nothing else; an
# invalid one, or a schema using any other keyword, goes through jsonschema, which words the error.
_TYPES = {"object": lambda v: isinstance(v, dict), "array": lambda v: isinstance(v, list),
          "string": lambda v: isinstance(v, str), "boolean": lambda v: isinstance(v, bool),
          "null": lambda v: v is None,
          "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
          "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool))
          or (isinstance(v, float) and v.is_integer())}  # as JSON Schema: 1.0 is an integer
_QUIET = {"description", "title", "$schema", "$defs"}


class _Undecided(Exception):
    """The schema uses a keyword the fast check does not know."""


def _valid(schema: dict, value, defs: dict) -> bool:
    """Whether ``value`` matches ``schema`` (the subset of JSON Schema 2020-12 in ``_valid``'s
    branches); raises :class:`_Undecided` on any other keyword."""
    if isinstance(schema, bool):  # ``true``/``false`` are schemas too
        return schema
    for key, want in schema.items():
        if key == "$ref":
            if not want.startswith("#/$defs/"):
                raise _Undecided(want)
            ok = _valid(defs[want.rsplit("/", 1)[-1]], value, defs)
        elif key == "type":
            names = [want] if isinstance(want, str) else want
            if not set(names) <= _TYPES.keys():
                raise _Undecided(f"type {want}")
            ok = any(_TYPES[t](value) for t in names)
        elif key == "enum":
            ok = any(value == w and type(value) is type(w) for w in want)
        elif key == "anyOf":
            ok = any(_valid(s, value, defs) for s in want)
        elif key == "oneOf":
            ok = sum(_valid(s, value, defs) for s in want) == 1
        elif key in ("required", "properties", "additionalProperties", "minProperties"):
            ok = not isinstance(value, dict) or _valid_object(key, want, schema, value, defs)
        elif key == "minLength":
            ok = not isinstance(value, str) or len(value) >= want
        elif key == "minimum":
            ok = not _TYPES["number"](value) or value >= want
        elif key in _QUIET:
            ok = True
        else:
            raise _Undecided(key)
        if not ok:
            return False
    return True


def _valid_object(key: str, want, schema: dict, value: dict, defs: dict) -> bool:
    if key == "required":
        return all(k in value for k in want)
    if key == "minProperties":
        return len(value) >= want
    if key == "properties":
        return all(_valid(sub, value[k], defs) for k, sub in want.items() if k in value)
    props = schema.get("properties", {})  # additionalProperties: the keys properties does not name
    return all(_valid(want, v, defs) for k, v in value.items() if k not in props)


def _fast_valid(kind: str, data: dict) -> bool:
    defs = read_schema("records")["$defs"]
    try:
        return _valid(defs[kind], data, defs)
    except _Undecided:
        return False


def check(kind: str, data, source="record") -> dict:
    """``data`` if it is a valid record of ``kind``; else :class:`RecordError` naming ``source``."""
    if not isinstance(data, dict):
        raise RecordError(f"{source}: expected a JSON object, got {type(data).__name__}")
    errors = [] if _fast_valid(kind, data) else sorted(
        _validator(kind).iter_errors(data), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        raise RecordError(f"{source}: {_message(errors[0])}")
    bad = _non_finite({k: data.get(k) for k in FINITE[kind]} if kind in FINITE else data)
    if bad is not None:
        raise RecordError(f"{source}: {bad} is not finite")
    return data


# the values that must be finite numbers, per kind (None: all of them).  A cost.json may hold a
# diverged loss in its history, a profile a 0/0 relative difference, an eval.json a NaN in a
# per-language extra metric: the tables skip those.
FINITE = {"eval": ("average", "average_zero_shot"),
          "cost": ("steps", "examples", "tokens", "flops", "wall_s", "device_hours", "peak_mem_mb",
                   "tokens_per_s", "best_step"),
          "inference_profile": ()}


def read_json(path) -> object:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecordError(f"{path}: file not found") from None
    except OSError as e:
        raise RecordError(f"{path}: cannot read ({e})") from e
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise RecordError(f"{path}: malformed JSON ({e})") from e


class Record:
    """A record: named fields (the dataclass) + whatever else the writer adds (``extra``)."""

    kind: ClassVar[str]

    @classmethod
    def from_dict(cls, data: dict, source="record"):
        check(cls.kind, data, source)
        names = {f.name for f in fields(cls) if f.name != "extra"}
        return cls(**{k: v for k, v in data.items() if k in names},
                   extra={k: v for k, v in data.items() if k not in names})

    def to_json(self) -> dict:
        d = asdict(self)
        extra = d.pop("extra")
        return {**d, **extra}

    @classmethod
    def from_json(cls, path):
        """Read and check ``path``."""
        return cls.from_dict(read_json(path), str(path))

    def write(self, path) -> Path:
        """Check, then write atomically."""
        from xstilts.stages.common import write_json

        data = self.to_json()
        check(self.kind, data, str(path))
        return write_json(data, path)


@dataclass
class CostRecord(Record):
    """``cost.json`` of a checkpoint: what one training phase cost."""

    kind: ClassVar[str] = "cost"
    SUMMARY: ClassVar[tuple[str, ...]] = ("phase", "steps", "examples", "tokens", "flops", "wall_s", "device",
                                          "device_hours", "peak_mem_mb", "tokens_per_s", "best_step",
                                          "stopped_early")
    phase: str | None = None
    steps: int | None = None
    examples: int | None = None
    tokens: int | None = None
    flops: float | None = None
    wall_s: float | None = None
    device: str | None = None
    device_hours: float | None = None
    peak_mem_mb: float | None = None
    tokens_per_s: float | None = None
    best_step: int | None = None
    stopped_early: bool | None = None
    extra: dict = field(default_factory=dict)  # model, init, history, hparams, ...

    def summary(self) -> dict:
        """The fields a cell's ``profile.json`` keeps of the phase (and, for a ``+mlm`` /
        ``+translate`` intermediate, its MLM cost and examples per language)."""
        out = {k: getattr(self, k) for k in self.SUMMARY}
        out.update({k: self.extra[k] for k in ("mlm", "examples_by_language") if k in self.extra})
        return out

    @property
    def mlm(self) -> dict | None:
        """The continued MLM of a ``+mlm`` intermediate (steps, flops, tokens, losses), else None."""
        return self.extra.get("mlm")

    @property
    def examples_by_language(self) -> dict:
        """Training examples drawn per language ({} when the phase did not count them)."""
        return dict(self.extra.get("examples_by_language") or {})


@dataclass
class Provenance:
    """Where an evaluation's numbers come from."""

    checkpoint: str | None = None
    data: str | None = None
    config: str | None = None
    xstilts: str | None = None
    torch: str | None = None
    device: str | None = None
    dtype: str | None = None
    evaluated_at: str | None = None

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, d: dict) -> "Provenance":
        return cls(**{k: d.get(k) for k in (f.name for f in fields(cls))})


@dataclass
class EvalRecord(Record):
    """``eval.json`` of a cell (or of a target's baselines)."""

    kind: ClassVar[str] = "eval"
    benchmark: str = ""
    model: str = ""
    target: str = ""
    metric: str = ""
    languages: dict = field(default_factory=dict)  # lang -> {metric: value, "n": count, ...}
    average: float = 0.0
    average_zero_shot: float | None = None
    inter: str | None = None
    seed: int | None = None
    extra: dict = field(default_factory=dict)  # averaged_over, eval_wall_s, provenance, baselines

    @property
    def provenance(self) -> Provenance:
        return Provenance.from_json(self.extra.get("provenance") or {})


@dataclass
class CellCost(Record):
    """A cell's ``profile.json``: the cost of both its phases and its inference profile's path."""

    kind: ClassVar[str] = "cell_cost"
    model: str = ""
    inter: str = ""
    target: str = ""
    seed: int = 0
    phases: dict = field(default_factory=dict)  # "intermediate" / "target" -> CostRecord.summary() | None
    total_train_flops: float | None = None
    total_train_wall_s: float | None = None
    total_device_hours: float | None = None
    inference_profile: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class InferenceProfile(Record):
    """``results/profile/<model>/<target>/profile.json``: what the model costs to serve."""

    kind: ClassVar[str] = "inference_profile"
    model: str = ""
    target: str = ""
    params: dict = field(default_factory=dict)
    latency_ms: dict = field(default_factory=dict)
    throughput: dict = field(default_factory=dict)
    flops_per_example: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

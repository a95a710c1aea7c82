"""Configuration: validation against the JSON schema, its defaults, then the resolved grid.

An invalid config stops the workflow before any job, with a message naming the key and what
was expected.  The schema's ``default:`` values are applied once here (``Config.data``); the
rest of the package reads resolved objects: ``Config.runtime`` (:class:`Runtime`), ``inter``
(:class:`Inter`), ``bound`` (:class:`BoundTask`) and ``cells`` (:class:`Cell`).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from xstilts.core import paths
from xstilts.core.cell import MULTITASK, SCRATCH, TASK, BoundTask, Cell, Inter, VariantError
from xstilts.core.errors import InputError
from xstilts.core.registry import TASKS, get_family
from xstilts.core.runtime import Runtime
from xstilts.core.schemas_io import load_yaml, read_schema

DEFAULT_RESOURCES = {"gpus": 0, "cpus": 1, "mem_mb": 4000, "runtime": 60}


class ConfigError(InputError, ValueError):
    """A config problem, phrased for the user (names the key)."""


def _schema() -> dict:
    """The config schema (read once; callers must not modify it)."""
    return read_schema("config")


@lru_cache(maxsize=1)
def _validator_class():
    """Draft 2020-12 where an integer is an ``int`` (JSON Schema also accepts ``1.0``, which
    would name paths ``s1.0`` and crash layer counts)."""
    import jsonschema

    base = jsonschema.Draft202012Validator
    checker = base.TYPE_CHECKER.redefine(
        "integer", lambda _c, v: isinstance(v, int) and not isinstance(v, bool))
    return jsonschema.validators.extend(base, type_checker=checker)


# a toy encoder's position table (models.toy_config); XLM-R positions start after the padding id
TOY_MAX_POSITIONS = 514
POSITION_OFFSET = 2


def operational_hparams() -> frozenset[str]:
    """Hyperparameters that do not change a phase's result (``operational: true`` in the
    schema: save_every, save_minutes): not Snakemake params, not part of the resume fingerprint."""
    props = _schema()["$defs"]["hparams"]["properties"]
    return frozenset(k for k, v in props.items() if v.get("operational"))


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _hint(err) -> str:
    """What to write instead, for a schema error a user is likely to make."""
    wants_bool = err.validator == "type" and "boolean" in ([err.validator_value] if isinstance(
        err.validator_value, str) else err.validator_value)
    if wants_bool and isinstance(err.instance, str) and err.instance.lower() in ("true", "false"):
        # Snakemake's --config reads only True and False as booleans (any other spelling stays text)
        return f" (on the command line write --config ...={err.instance.capitalize()})"
    return ""


def validate(raw: dict, source: str = "config", check_paths: bool = False) -> "Config":
    """Schema check + semantic checks; returns the ``Config`` or raises ``ConfigError``.
    ``check_paths``: also require the local data folders the grid reads to exist (the Snakefile
    checks them before any job; a stage run by hand reports a missing file when it reads it)."""
    import jsonschema

    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the config must be a mapping, got {type(raw).__name__}")
    validator = _validator_class()(_schema())
    errors = sorted(validator.iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  - {_key(e.absolute_path)}: {e.message}{_hint(e)}" for e in errors[:10]]
        raise ConfigError(f"{source} is invalid:\n" + "\n".join(lines))
    cfg = Config(copy.deepcopy(raw), source)
    cfg.check()
    if check_paths:
        cfg.check_paths()
    return cfg


def snapshot_text(raw: dict) -> str:
    """The text of the config snapshot the Snakefile writes for its jobs (``paths.config_snapshot``
    names it by this text's hash): JSON, which a job reads without importing a YAML parser."""
    return json.dumps(raw, sort_keys=True, indent=1) + "\n"


def load(path: str | Path) -> "Config":
    """The config of ``path``, validated; a snapshot the Snakefile wrote after validating it
    (``paths.config_snapshot``: its name is the hash of its text) is not checked again: a job
    would spend about 0.1 s importing jsonschema and checking what its Snakefile just checked."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError as err:
        raise ConfigError(f"config file {path} does not exist") from err
    if paths.is_config_snapshot(path, text):
        return Config(json.loads(text), str(path))
    import yaml

    try:
        raw = load_yaml(text)  # YAML, or JSON (a subset of YAML)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    return validate(raw, str(path))


def _with_defaults(schema: dict, value, root: dict):
    """``value`` with the ``default:`` of every absent property filled in (recursively, into
    objects that are present; a missing object with defaults and no required keys is created).
    Hyperparameter layers are left as given: ``Config.hparams`` puts the defaults under them."""
    if schema.get("$ref") == "#/$defs/hparams":
        return value
    if "$ref" in schema:
        schema = {**root["$defs"][schema["$ref"].rsplit("/", 1)[-1]],
                  **{k: v for k, v in schema.items() if k != "$ref"}}
    if not isinstance(value, dict):
        return value
    out = dict(value)
    for key, sub in schema.get("properties", {}).items():
        if key in out:
            out[key] = _with_defaults(sub, out[key], root)
        elif "default" in sub:
            out[key] = copy.deepcopy(sub["default"])
        elif sub.get("type") == "object" and not sub.get("required") and _has_defaults(sub, root):
            out[key] = _with_defaults(sub, {}, root)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key in out:
            if key not in schema.get("properties", {}):
                out[key] = _with_defaults(extra, out[key], root)
    return out


def _has_defaults(schema: dict, root: dict) -> bool:
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    return any("default" in sub or _has_defaults(sub, root) for sub in schema.get("properties", {}).values()
               if isinstance(sub, dict))


def hparam_defaults() -> dict:
    """The schema's defaults of the training hyperparameters (``$defs.hparams``)."""
    props = _schema()["$defs"]["hparams"]["properties"]
    return {k: copy.deepcopy(v["default"]) for k, v in props.items() if "default" in v}


@dataclass
class Config:
    raw: dict  # as given (the content-addressed copy the jobs read)
    source: str = "config"

    def __post_init__(self):
        schema = _schema()
        self.data = _with_defaults(schema, self.raw, schema)  # the schema defaults applied
        d = self.data
        self.runtime = Runtime(device=d["device"], dtype=d["dtype"], threads=int(d["threads"]),
                               compile=bool(d["compile"]))
        self.warm_start = bool(d["warm_start"])  # local runs: jobs fork from a helper (xstilts/warm.py)
        mix = d.get("multitask", {}).get("tasks", [])
        self._inters = {}
        for key, names in (("intermediate", d["intermediate"]), ("controls", d.get("controls", []))):
            for i, n in enumerate(names):
                try:
                    self._inters[n] = Inter.named(n, mix)
                except VariantError as err:
                    raise ConfigError(f"{self.source}: {key}[{i}]: {err}") from None

    # ---- basic accessors ------------------------------------------------------------------
    @property
    def benchmark(self) -> str:
        return self.data["benchmark"]

    @property
    def is_toy(self) -> bool:
        return self.benchmark == "toy"

    @property
    def seeds(self) -> list[int]:
        return list(self.data["seeds"])

    @property
    def models(self) -> list[str]:
        return list(self.data["models"])

    def model(self, name: str) -> dict:
        return self.data["models"][name]

    def mlm(self, model: str) -> dict:
        """The toy MLM recipe of a model: ``pretrain:`` (schema defaults applied) < the model's
        ``pretrain:``."""
        return {**self.pretrain, **self.model(model).get("pretrain", {})}

    @property
    def continued_mlm(self) -> dict:
        """``mlm:`` (schema defaults applied): the continued MLM of the ``+mlm`` intermediates."""
        return self.data["mlm"]

    @property
    def translate(self) -> dict:
        """``translate:`` (schema defaults applied): the ``+translate`` intermediates."""
        return self.data["translate"]

    def mlm_corpus_settings(self) -> dict:
        """What the tokenized MLM corpus depends on (its ``mlm-corpus`` job's params)."""
        m = self.continued_mlm
        return {"max_length": m["max_length"], "lines": m["lines"], "heldout": m["heldout"],
                "corpus": None if self.is_toy else m["corpus"],
                "languages": self.toy_languages}

    def translate_settings(self, task: str) -> dict:
        """What the tokenized translations of ``task`` depend on (the ``translate-data`` job)."""
        return {**self.prepare_settings(task), "noise": self.translate["noise"],
                "source": None if self.is_toy else self.translate["sources"].get(task)}

    def variant_settings(self, inter: str) -> dict | None:
        """The options of an intermediate's variant that change its training (``None`` for a
        plain one): a param of its ``intermediate`` job, so that changing ``mlm:`` reruns the
        ``+mlm`` cells only (and ``translate:`` the ``+translate`` cells only)."""
        i = self.inter(inter)
        if i.mlm:
            return {"mlm": self.continued_mlm}
        if i.translate:
            return {"translate": self.translate_settings(i.tasks[0])}
        return None

    @property
    def uses_mlm(self) -> bool:
        return any(self.inter(i).mlm for i in self.trained_intermediates)

    def translated_tasks(self) -> list[str]:
        """The tasks whose translations the grid trains on (``<task>+translate``)."""
        return sorted({self.inter(i).tasks[0] for i in self.trained_intermediates if self.inter(i).translate})

    @property
    def toy_world(self) -> dict:
        """What ``toy.generate`` takes: the toy seed and every split size (schema defaults)."""
        return {"seed": self.toy["seed"], **self.toy["sizes"]}

    def tokenizer_of(self, model: str) -> str:
        return self.model(model)["tokenizer"]

    def tokenizer(self, name: str) -> dict:
        return self.data["tokenizers"][name]

    @property
    def tokenizers(self) -> list[str]:
        return sorted({self.tokenizer_of(m) for m in self.models})

    # sections, schema defaults applied
    @property
    def toy(self) -> dict:
        return self.data["toy"]

    @property
    def pretrain(self) -> dict:
        return self.data["pretrain"]

    @property
    def profile(self) -> dict:
        return self.data["profile"]

    @property
    def plots(self) -> dict:
        return self.data["plots"]

    @property
    def stats(self) -> dict:
        return self.data["stats"]

    @property
    def multitask(self) -> dict | None:
        """``multitask`` of the config (tasks, sampling, temperature), or None."""
        return self.data.get("multitask")

    @property
    def sampling(self) -> dict:
        """``sampling`` and ``temperature`` of multi-task training (schema defaults without a
        ``multitask`` section: a single task ignores them)."""
        props = _schema()["properties"]["multitask"]["properties"]
        out = {k: props[k]["default"] for k in ("sampling", "temperature")}
        out.update({k: v for k, v in (self.multitask or {}).items() if k in out})
        return out

    @property
    def toy_languages(self) -> list[str] | None:
        return list(self.toy["languages"]) if self.is_toy else None

    def micro_batch_size(self, model: str) -> int | None:
        """Examples per forward/backward pass of a model (gradient accumulation up to the
        batch size); None: the whole batch in one pass."""
        return self.model(model).get("micro_batch_size")

    def eval_languages(self, task: str) -> list[str]:
        """The languages a task is evaluated in: the toy languages (toy mode), the config's
        ``languages.<task>`` subset (real mode; English kept where the task has it), else every
        benchmark language."""
        t = TASKS[task]
        every = t.eval_languages(self.toy_languages)
        subset = self.data.get("languages", {}).get(task)
        if subset is None:
            return every
        return [lang for lang in every if lang in subset or lang == "en"]

    def partial_languages(self, task: str) -> bool:
        """Whether the average of a task is over a subset of its benchmark languages."""
        return task in self.data.get("languages", {}) and (
            set(self.eval_languages(task)) != set(TASKS[task].eval_languages(self.toy_languages)))

    def resources(self, model: str) -> dict:
        res = {**DEFAULT_RESOURCES, **self.data.get("resources", {})}
        res.update(self.model(model).get("resources", {}))
        return res

    @property
    def on_missing_data(self) -> str:
        """``skip`` or ``fail``: what prefetch does with a split it could not get."""
        return self.data["data"]["on_missing_data"]

    def local_root(self, task: str) -> str | None:
        data = self.data.get("data", {})
        if task in data.get("tasks", {}):
            return data["tasks"][task]
        if self.is_toy:
            return data.get("local_root") or paths.toy_hub()
        return data.get("local_root")

    # ---- grid -----------------------------------------------------------------------------
    @property
    def multitask_tasks(self) -> list[str]:
        return list(self.multitask["tasks"]) if self.multitask else []

    def inter(self, name: str) -> Inter:
        """The resolved intermediate ``name`` (of the grid, or any task name)."""
        if name in self._inters:
            return self._inters[name]
        try:
            inter = Inter.named(name, self.multitask_tasks)
        except VariantError as err:
            raise ConfigError(f"{self.source}: intermediate {err}") from None
        unknown = [t for t in inter.tasks if t not in TASKS]
        if unknown:  # a name given by hand (the CLI's --inter): the grid's were checked by validate
            raise ConfigError(f"{self.source}: unknown intermediate {name!r}: none, scratch, multitask, "
                              f"a task of the registry ({', '.join(sorted(TASKS))}) or one with +mlm/+translate")
        return inter

    @property
    def intermediates(self) -> list[str]:
        """The intermediates (none / tasks / multitask) of the grid."""
        return list(self.data["intermediate"])

    @property
    def trained_intermediates(self) -> list[str]:
        return [i for i in self.intermediates if self.inter(i).trains]

    @property
    def targets(self) -> list[str]:
        return list(self.data["targets"])

    @property
    def controls(self) -> list[str]:
        return list(self.data.get("controls", []))

    def inters_of(self, target: str) -> list[str]:
        """The intermediates (and controls) a target is paired with: ``pairing.<target>``, else
        all of them."""
        every = self.intermediates + self.controls
        chosen = self.data.get("pairing", {}).get(target)
        return every if chosen is None else [i for i in every if i in chosen]

    def cells(self) -> list[Cell]:
        """Every cell: each model x each target x the intermediates paired with it x each seed."""
        return [Cell(m, self.inter(i), t, s) for m in self.models for t in self.targets
                for s in self.seeds for i in self.inters_of(t)]

    def cell(self, model: str, inter: str, target: str, seed) -> Cell:
        """The cell of these names (the CLI's ``--model/--inter/--target/--seed``)."""
        self.require("model", model)
        self.require("task", target)
        return Cell(model, self.inter(inter), target, int(seed))

    def require(self, kind: str, name: str) -> None:
        """A name given on the command line exists: a ``model`` or ``tokenizer`` of the config, a
        ``task`` of the registry; else one :class:`ConfigError` listing those that do."""
        known = {"model": self.data["models"], "tokenizer": self.data["tokenizers"], "task": TASKS}[kind]
        if name not in known:
            where = "the registry's tasks" if kind == "task" else f"the config's {kind}s"
            raise ConfigError(f"{self.source}: no {kind} {name!r} ({where}: {', '.join(sorted(known))})")

    def data_tasks(self) -> list[str]:
        """Every task whose data the grid tokenizes."""
        names = [t for i in self.trained_intermediates for t in self.inter(i).tasks]
        return sorted(set(names) | set(self.targets))

    def inter_tasks(self, inter: str) -> list[str]:
        return list(self.inter(inter).tasks)

    def phase_of(self, task: str) -> str:
        """The phase a task's data is prepared for: ``target`` when the grid targets it."""
        return "target" if task in self.targets else "intermediate"

    # ---- hyperparameters ------------------------------------------------------------------
    def hparams(self, task: str, phase: str) -> dict:
        """Schema defaults < registry task < config default < config phase < config per-task."""
        hp = hparam_defaults()
        hp.update(TASKS[task].hparams)
        conf = self.data.get("hparams", {})
        hp.update(conf.get("default", {}))
        hp.update(conf.get(phase, {}))
        hp.update(conf.get("tasks", {}).get(task, {}))
        return hp

    def result_hparams(self, task: str, phase: str) -> dict:
        """The hyperparameters that change a training phase's result (without the operational
        ones): what the ``intermediate`` and ``target`` rules depend on."""
        ops = operational_hparams()
        return {k: v for k, v in self.hparams(task, phase).items() if k not in ops}

    def prepare_settings(self, task: str) -> dict:
        """Everything of the config that the ``prepare`` stage reads for ``task``: what its
        tokenized cache depends on (not lr, epochs, patience, ...)."""
        b = self.bound(task, self.phase_of(task))
        return {"max_length": b.max_length, "dev_size": int(b.hparams["dev_size"]),
                "train_size": b.hparams["train_size"], "options": b.options, "local_root": self.local_root(task),
                "target": task in self.targets}

    def options(self, task: str, phase: str, model: str | None = None) -> dict:
        """The family options of a task (``Family.options`` taken from its hyperparameters);
        with a model, the family may add model-specific ones (retrieval: ``retrieval_layer``)."""
        family = get_family(TASKS[task].family)
        return family.resolve_options(self.hparams(task, phase), self.model(model) if model else None)

    def bound(self, task: str, phase: str, model: str | None = None) -> BoundTask:
        """A task bound to a phase: family, hyperparameters and options resolved once."""
        return BoundTask(TASKS[task], get_family(TASKS[task].family), phase,
                         self.hparams(task, phase), self.options(task, phase, model))

    def max_length(self, task: str) -> int:
        return int(self.hparams(task, "target" if "target" in TASKS[task].roles else "intermediate")["max_length"])

    # ---- semantic checks ------------------------------------------------------------------
    def check(self) -> None:
        raw, src = self.raw, self.source
        toks = raw.get("tokenizers", {})
        for m, spec in raw["models"].items():
            if spec["tokenizer"] not in toks:
                raise ConfigError(f"{src}: models.{m}.tokenizer: {spec['tokenizer']!r} is not defined "
                                  f"under tokenizers (defined: {sorted(toks)})")
            if self.is_toy and "toy" not in spec:
                raise ConfigError(f"{src}: models.{m}: benchmark is toy, so the model needs a "
                                  f"'toy' architecture (layers, hidden, heads)")
            if not self.is_toy and "hf_id" not in spec:
                raise ConfigError(f"{src}: models.{m}: benchmark is real, so the model needs an "
                                  f"'hf_id' (a Hugging Face encoder id)")
            arch = spec.get("toy")
            if arch and arch["hidden"] % arch["heads"]:
                raise ConfigError(f"{src}: models.{m}.toy: hidden ({arch['hidden']}) must be a "
                                  f"multiple of heads ({arch['heads']})")
        for name, spec in toks.items():
            if self.is_toy and "train" not in spec:
                raise ConfigError(f"{src}: tokenizers.{name}: a toy tokenizer needs 'train: {{vocab_size: N}}'")
            if not self.is_toy and "hf_id" not in spec:
                raise ConfigError(f"{src}: tokenizers.{name}: a real tokenizer needs an 'hf_id'")
        for i, name in enumerate(raw["intermediate"]):
            inter = self._inters[name]
            if inter.kind == SCRATCH:
                raise ConfigError(f"{src}: intermediate[{i}]: 'scratch' is a control: list it under controls")
            if inter.kind == TASK:
                self._check_task(inter.base, f"intermediate[{i}]" + (f" ({name!r})" if inter.base != name else ""),
                                 "intermediate")
            if inter.translate and self.is_toy:
                from xstilts.toy.translate_twins import TRANSLATABLE

                if inter.base not in TRANSLATABLE:
                    raise ConfigError(f"{src}: intermediate[{i}]: {name!r}: the toy benchmark has no "
                                      f"translations of {inter.base!r} (translatable: {', '.join(TRANSLATABLE)})")
        if self.uses_mlm and not self.is_toy:
            corpus = self.continued_mlm["corpus"]
            if not corpus:
                raise ConfigError(f"{src}: mlm.corpus: the +mlm intermediates need a multilingual corpus "
                                  f"in real mode (a local folder of <lang>.txt files)")
        for name in raw.get("translate", {}).get("sources", {}):
            self._check_task(name, f"translate.sources.{name}", "intermediate")
        if any(inter.kind == MULTITASK for inter in self._inters.values()):
            if not self.multitask_tasks:
                raise ConfigError(f"{src}: intermediate lists 'multitask' but multitask.tasks is missing")
        for i, name in enumerate(raw["targets"]):
            self._check_task(name, f"targets[{i}]", "target")
        for name in raw.get("hparams", {}).get("tasks", {}):
            self._check_task(name, f"hparams.tasks.{name}", None)
        for j, name in enumerate(self.multitask_tasks):  # also when no intermediate uses it
            self._check_task(name, f"multitask.tasks[{j}]", "intermediate")
        for name in raw.get("data", {}).get("tasks", {}):
            self._check_task(name, f"data.tasks.{name}", None)
        self._check_family_options()
        self.check_model_limits()
        allowed = set(raw["intermediate"]) | set(self.controls)
        for target, inters in raw.get("pairing", {}).items():
            if target not in raw["targets"]:
                raise ConfigError(f"{src}: pairing.{target}: {target!r} is not one of targets {raw['targets']}")
            for k, name in enumerate(inters):
                if name not in allowed:
                    raise ConfigError(f"{src}: pairing.{target}[{k}]: {name!r} is not listed under "
                                      f"intermediate or controls ({sorted(allowed)})")
        for target, langs in raw.get("languages", {}).items():
            if target not in raw["targets"]:
                raise ConfigError(f"{src}: languages.{target}: {target!r} is not one of targets {raw['targets']}")
            if self.is_toy:
                raise ConfigError(f"{src}: languages.{target}: a language subset is for real mode "
                                  f"(the toy benchmark evaluates toy.languages)")
            known = TASKS[target].eval_languages(None)
            for k, lang in enumerate(langs):
                if lang not in known:
                    raise ConfigError(f"{src}: languages.{target}[{k}]: {lang!r} is not a language of "
                                      f"{target} ({', '.join(known)})")

    def _check_task(self, name: str, key: str, role: str | None) -> None:
        if name not in TASKS:
            raise ConfigError(f"{self.source}: {key}: unknown task {name!r}; known tasks: "
                              f"{', '.join(sorted(TASKS))}")
        if role and role not in TASKS[name].roles:
            raise ConfigError(f"{self.source}: {key}: task {name!r} cannot be used as {role} "
                              f"(roles: {', '.join(TASKS[name].roles)})")

    def check_paths(self) -> None:
        """The local data folders of the grid's tasks exist (``data.local_root``, ``data.tasks``)."""
        data = self.raw.get("data", {})
        for name, root in data.get("tasks", {}).items():
            if name in self.data_tasks() and not Path(root).is_dir():
                raise ConfigError(f"{self.source}: data.tasks.{name}: {root!r} is not an existing folder "
                                  f"(expected a local mirror <root>/<repo>/<config>/<split>.parquet)")
        root = data.get("local_root")
        if root and not Path(root).is_dir():
            raise ConfigError(f"{self.source}: data.local_root: {root!r} is not an existing folder")

    def _check_family_options(self) -> None:
        """A per-task hyperparameter that is an option of another family (``doc_stride`` on a
        tagging task) would be ignored silently."""
        from xstilts.core.registry import FAMILY_MODULES

        per_task = self.raw.get("hparams", {}).get("tasks", {})
        if not per_task:  # nothing to check: do not import every family (numpy, pyarrow)
            return
        owners: dict[str, list[str]] = {}
        for fam in FAMILY_MODULES:
            for opt in get_family(fam).options:
                owners.setdefault(opt, []).append(fam)
        for name, hp in per_task.items():
            family = get_family(TASKS[name].family)
            for key in hp:
                if key in owners and key not in family.options:
                    raise ConfigError(
                        f"{self.source}: hparams.tasks.{name}.{key}: {hp[key]!r} is an option of the "
                        f"{'/'.join(sorted(set(owners[key])))} family, but {name!r} is a "
                        f"{family.name} task (its options: {', '.join(family.options) or 'none'})")

    def model_limits(self, model: str) -> tuple[int | None, int | None]:
        """``(longest input, layers)`` of a model: from its toy architecture, or from its
        config.json (``model_config``; ``(None, None)`` when it is not there)."""
        spec = self.model(model)
        if "toy" in spec:
            return TOY_MAX_POSITIONS - POSITION_OFFSET, int(spec["toy"]["layers"])
        conf = self.model_config(model) or {}
        pos, layers = conf.get("max_position_embeddings"), conf.get("num_hidden_layers")
        offset = POSITION_OFFSET if str(conf.get("model_type", "")).startswith(("xlm-roberta", "roberta")) else 0
        return (pos - offset if isinstance(pos, int) else None), (layers if isinstance(layers, int) else None)

    def model_config(self, model: str) -> dict | None:
        """The config.json of a real model: a local model folder's, or the Hugging Face cache's
        at its revision; ``None`` when it is not there (a Hub model before prefetch)."""
        # read where huggingface_hub keeps it (its own lookup function costs every `snakemake`
        # call about 50 ms of imports)
        from xstilts.stages.prefetch import model_folder

        spec = self.model(model)
        try:
            conf = json.loads((model_folder(spec["hf_id"], spec.get("revision")) / "config.json").read_text())
        except (OSError, ValueError):  # not there (or unreadable): nothing known, nothing checked
            return None
        return conf if isinstance(conf, dict) else None

    def check_model_limits(self) -> None:
        """``max_length`` within every model's position limit; ``retrieval_layer`` and a
        retrieval task's ``layer`` within its depth.  A model whose config.json is not there yet
        (a Hub model before prefetch) is not checked: prefetch checks again once it has put the
        models in the cache."""
        src = self.source
        for m in self.models:
            limit, layers = self.model_limits(m)
            spec = self.model(m)
            if layers is not None and spec.get("retrieval_layer") is not None and spec["retrieval_layer"] > layers:
                raise ConfigError(f"{src}: models.{m}.retrieval_layer: {spec['retrieval_layer']} is beyond "
                                  f"the model's depth (expected 0..{layers}: 0 = embeddings)")
            if limit is None:
                continue
            if self.is_toy and self.mlm(m)["max_length"] > limit:
                raise ConfigError(f"{src}: pretrain.max_length (model {m}): {self.mlm(m)['max_length']} "
                                  f"exceeds the model's position limit (expected at most {limit})")
            if self.uses_mlm and self.continued_mlm["max_length"] > limit:
                raise ConfigError(f"{src}: mlm.max_length: {self.continued_mlm['max_length']} exceeds the "
                                  f"position limit of model {m} (expected at most {limit}; the +mlm "
                                  f"intermediates)")
            for task in self.data_tasks():
                phase = self.phase_of(task)
                hp = self.hparams(task, phase)
                if hp.get("max_length") is not None and hp["max_length"] > limit:
                    raise ConfigError(
                        f"{src}: {self._origin(task, phase, 'max_length')}: {hp['max_length']} exceeds the "
                        f"position limit of model {m} (expected at most {limit}; task {task})")
                if (layers is not None and hp.get("layer") is not None and hp["layer"] > layers
                        and "layer" in get_family(TASKS[task].family).options):
                    raise ConfigError(
                        f"{src}: {self._origin(task, phase, 'layer')}: {hp['layer']} is beyond the depth "
                        f"of model {m} (expected 0..{layers}: 0 = embeddings; task {task})")

    def _origin(self, task: str, phase: str, key: str) -> str:
        """The config key a task's resolved hyperparameter comes from (the last layer setting it)."""
        conf = self.raw.get("hparams", {})
        for where, layer in ((f"hparams.tasks.{task}", conf.get("tasks", {}).get(task, {})),
                             (f"hparams.{phase}", conf.get(phase, {})), ("hparams.default", conf.get("default", {}))):
            if key in layer:
                return f"{where}.{key}"
        return f"{key} (registry default of task {task})"

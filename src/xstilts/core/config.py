"""Configuration: validation against the JSON schema, then the cell lists of the grid.

An invalid config stops the workflow before any job, with a message naming the key and what
was expected.  Tasks whose family is not implemented yet are skipped with a note (the DAG of
implemented families stays complete).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from xstilts.core import paths
from xstilts.core.registry import TASKS

DEFAULT_RESOURCES = {"gpus": 0, "cpus": 1, "mem_mb": 4000, "runtime": 60}
#: the toy benchmark (``toy:``): world seed and split sizes
TOY_DEFAULTS = {"seed": 0, "n_train": 4000, "n_dev": 500, "n_test": 400, "n_corpus": 20000}
#: toy MLM pretraining, under ``pretrain:`` and each model's ``pretrain:`` (which wins)
PRETRAIN_DEFAULTS = {"steps": 500, "batch_size": 32, "lr": 1e-3, "max_length": 64, "warmup": 0.06}


class ConfigError(ValueError):
    """A config problem, phrased for the user (names the key)."""


def _schema() -> dict:
    text = resources.files("xstilts").joinpath("core/schemas/config.schema.yaml").read_text()
    return yaml.safe_load(text)


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def validate(raw: dict, source: str = "config") -> "Config":
    """Schema check + semantic checks; returns the ``Config`` or raises ``ConfigError``."""
    import jsonschema

    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the config must be a mapping, got {type(raw).__name__}")
    validator = jsonschema.Draft202012Validator(_schema())
    errors = sorted(validator.iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  - {_key(e.absolute_path)}: {e.message}" for e in errors[:10]]
        raise ConfigError(f"{source} is invalid:\n" + "\n".join(lines))
    cfg = Config(copy.deepcopy(raw), source)
    cfg.check()
    return cfg


def load(path: str | Path) -> "Config":
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError as err:
        raise ConfigError(f"config file {path} does not exist") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    return validate(raw, str(path))


@dataclass
class Config:
    raw: dict
    source: str = "config"

    # ---- basic accessors ------------------------------------------------------------------
    @property
    def benchmark(self) -> str:
        return self.raw["benchmark"]

    @property
    def is_toy(self) -> bool:
        return self.benchmark == "toy"

    @property
    def seeds(self) -> list[int]:
        return list(self.raw["seeds"])

    @property
    def models(self) -> list[str]:
        return list(self.raw["models"])

    def model(self, name: str) -> dict:
        return self.raw["models"][name]

    @property
    def toy(self) -> dict:
        """The toy benchmark's seed and sizes, defaults filled in (``TOY_DEFAULTS``)."""
        spec = self.raw.get("toy", {})
        return {**TOY_DEFAULTS, "seed": spec.get("seed", TOY_DEFAULTS["seed"]), **spec.get("sizes", {})}

    def pretrain(self, model: str) -> dict:
        """The toy MLM recipe of a model: defaults < ``pretrain:`` < the model's ``pretrain:``."""
        return {**PRETRAIN_DEFAULTS, **self.raw.get("pretrain", {}), **self.model(model).get("pretrain", {})}

    def tokenizer_of(self, model: str) -> str:
        return self.model(model)["tokenizer"]

    @property
    def tokenizers(self) -> list[str]:
        return sorted({self.tokenizer_of(m) for m in self.models})

    @property
    def toy_languages(self) -> list[str] | None:
        return list(self.raw.get("toy", {}).get("languages", ["qaa", "qab", "qac", "qad"])) if self.is_toy else None

    def resources(self, model: str) -> dict:
        res = {**DEFAULT_RESOURCES, **self.raw.get("resources", {})}
        res.update(self.model(model).get("resources", {}))
        return res

    def local_root(self, task: str) -> str | None:
        data = self.raw.get("data", {})
        if task in data.get("tasks", {}):
            return data["tasks"][task]
        if self.is_toy:
            return data.get("local_root") or paths.toy_hub()
        return data.get("local_root")

    # ---- grid -----------------------------------------------------------------------------
    def _implemented(self, names):
        return [n for n in names if n in TASKS and TASKS[n].implemented]

    @property
    def multitask_tasks(self) -> list[str]:
        return list(self.raw.get("multitask", {}).get("tasks", []))

    @property
    def intermediates(self) -> list[str]:
        """Implemented intermediate tasks (plus none / multitask) of the grid."""
        out = []
        for name in self.raw["intermediate"]:
            if name in (paths.NONE, paths.MULTITASK) or (TASKS[name].implemented):
                if name == paths.MULTITASK and not self._implemented(self.multitask_tasks):
                    continue
                out.append(name)
        return out

    @property
    def trained_intermediates(self) -> list[str]:
        return [i for i in self.intermediates if i != paths.NONE]

    @property
    def targets(self) -> list[str]:
        return self._implemented(self.raw["targets"])

    @property
    def controls(self) -> list[str]:
        return list(self.raw.get("controls", []))

    @property
    def skipped(self) -> list[str]:
        """Configured tasks whose family is not implemented yet, with the family."""
        names = [n for n in self.raw["intermediate"] + self.raw["targets"] + self.multitask_tasks
                 if n in TASKS and not TASKS[n].implemented]
        return sorted({f"{n} ({TASKS[n].family})" for n in names})

    def inters_of(self, target: str) -> list[str]:
        """The intermediates (and controls) a target is paired with: ``pairing.<target>``, else
        all of them.  Entries of a not-implemented intermediate are left out like everywhere."""
        every = self.intermediates + self.controls
        chosen = self.raw.get("pairing", {}).get(target)
        return every if chosen is None else [i for i in every if i in chosen]

    def cells(self) -> list[tuple[str, str, str, int]]:
        """(model, inter, target, seed) of every cell: each model x each target x the
        intermediates paired with it x each seed."""
        return [(m, i, t, s) for m in self.models for t in self.targets for s in self.seeds
                for i in self.inters_of(t)]

    def data_tasks(self) -> list[str]:
        """Every implemented task whose data the grid tokenizes."""
        names = [i for i in self.trained_intermediates if i != paths.MULTITASK]
        if paths.MULTITASK in self.intermediates:
            names += self._implemented(self.multitask_tasks)
        return sorted(set(names) | set(self.targets))

    def inter_tasks(self, inter: str) -> list[str]:
        if inter == paths.MULTITASK:
            return self._implemented(self.multitask_tasks)
        return [inter]

    # ---- hyperparameters ------------------------------------------------------------------
    def hparams(self, task: str, phase: str) -> dict:
        """Registry defaults < config default < config phase < config per-task."""
        hp = {"epochs": 2, "warmup": 0.1, "weight_decay": 0.01, "patience": 5, "dev_size": 500,
              "grad_clip": 1.0, "max_steps": None}
        hp.update(TASKS[task].hparams)
        conf = self.raw.get("hparams", {})
        hp.update(conf.get("default", {}))
        hp.update(conf.get(phase, {}))
        hp.update(conf.get("tasks", {}).get(task, {}))
        return hp

    def options(self, task: str, phase: str, model: str | None = None) -> dict:
        """The family options of a task (``Family.options`` taken from its hyperparameters);
        with a model, its ``retrieval_layer`` fills ``layer`` unless the hyperparameters set it."""
        from xstilts.tasks.families import family_options
        from xstilts.core.registry import get_family

        family = get_family(TASKS[task].family)
        opts = family_options(family, self.hparams(task, phase))
        layer = self.model(model).get("retrieval_layer") if model else None
        if "layer" in family.options and "layer" not in opts and layer is not None:
            opts["layer"] = int(layer)
        return opts

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
            if name in (paths.NONE, paths.MULTITASK):
                continue
            if name == paths.SCRATCH:
                raise ConfigError(f"{src}: intermediate[{i}]: 'scratch' is a control: list it under controls")
            self._check_task(name, f"intermediate[{i}]", "intermediate")
        if paths.MULTITASK in raw["intermediate"]:
            if not self.multitask_tasks:
                raise ConfigError(f"{src}: intermediate lists 'multitask' but multitask.tasks is missing")
            for j, name in enumerate(self.multitask_tasks):
                self._check_task(name, f"multitask.tasks[{j}]", "intermediate")
        for i, name in enumerate(raw["targets"]):
            self._check_task(name, f"targets[{i}]", "target")
        for name in raw.get("hparams", {}).get("tasks", {}):
            self._check_task(name, f"hparams.tasks.{name}", None)
        allowed = set(raw["intermediate"]) | set(self.controls)
        for target, inters in raw.get("pairing", {}).items():
            if target not in raw["targets"]:
                raise ConfigError(f"{src}: pairing.{target}: {target!r} is not one of targets {raw['targets']}")
            for k, name in enumerate(inters):
                if name not in allowed:
                    raise ConfigError(f"{src}: pairing.{target}[{k}]: {name!r} is not listed under "
                                      f"intermediate or controls ({sorted(allowed)})")
        if not self.targets:
            raise ConfigError(f"{src}: targets: none of {raw['targets']} is implemented yet")

    def _check_task(self, name: str, key: str, role: str | None) -> None:
        if name not in TASKS:
            raise ConfigError(f"{self.source}: {key}: unknown task {name!r}; known tasks: "
                              f"{', '.join(sorted(TASKS))}")
        if role and role not in TASKS[name].roles:
            raise ConfigError(f"{self.source}: {key}: task {name!r} cannot be used as {role} "
                              f"(roles: {', '.join(TASKS[name].roles)})")

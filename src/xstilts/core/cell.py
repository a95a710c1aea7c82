"""The resolved objects of the grid: what an intermediate is, a task bound to its phase, a cell.

``Config`` builds them once (``cfg.inter(name)``, ``cfg.bound(task, phase)``, ``cfg.cells()``);
stages, the Snakemake input functions and the aggregation take them instead of re-deciding from
strings.  The kind of an intermediate (``none`` / ``scratch`` / ``multitask`` / a task) and
its variant (plain, ``+mlm``: continued multilingual MLM mixed into the intermediate phase,
``+translate``: the intermediate data plus its translations) are decided here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from xstilts.core import paths

if TYPE_CHECKING:
    from xstilts.tasks.families import Family

# the kinds of an intermediate
NONE = "none"  # the pretrained encoder goes straight to the target
SCRATCH = "scratch"  # a random init of the base architecture (a control)
MULTITASK = "multitask"  # the mixture of ``multitask.tasks``
TASK = "task"  # one intermediate task
LABELS = {NONE: "none (no intermediate task)", SCRATCH: "scratch (random-init control)",
          MULTITASK: "multitask"}
# the variants of a trained intermediate, written ``<task>+<variant>`` (Phang et al. 2020)
PLAIN = "plain"
MLM = "mlm"  # continued multilingual masked language modelling during intermediate training
TRANSLATE = "translate"  # the intermediate data and its translations into the other languages
VARIANTS = (MLM, TRANSLATE)
VARIANT_SEP = "+"


class VariantError(ValueError):
    """An intermediate name with an unknown or misplaced ``+variant`` (the config names the key)."""


@dataclass(frozen=True)
class Inter:
    """One value of the ``inter`` axis of the grid."""

    name: str
    kind: str
    tasks: tuple[str, ...] = ()  # the tasks trained in the intermediate phase
    variant: str = PLAIN  # PLAIN, MLM or TRANSLATE

    @classmethod
    def named(cls, name: str, multitask_tasks=()) -> "Inter":
        """The intermediate called ``name`` (``multitask_tasks``: the mixture of the config).
        ``<task>+mlm``, ``multitask+mlm``, ``<task>+translate``: a variant of a trained
        intermediate (a :class:`VariantError` for an unknown suffix or one on a control)."""
        base, sep, variant = name.partition(VARIANT_SEP)
        if not sep:
            variant = PLAIN
        elif variant not in VARIANTS:
            raise VariantError(f"{name!r}: unknown variant {variant!r} (known: "
                               f"{', '.join(VARIANT_SEP + v for v in VARIANTS)})")
        if base in (NONE, SCRATCH):
            if sep:
                raise VariantError(f"{name!r}: {base!r} trains no intermediate task, so it has no "
                                   f"{VARIANT_SEP}{variant} variant")
            return cls(name, base)
        if base == MULTITASK:
            if variant == TRANSLATE:
                raise VariantError(f"{name!r}: the multitask mixture has no +translate variant "
                                   f"(list <task>+translate for each task instead)")
            return cls(name, MULTITASK, tuple(multitask_tasks), variant)
        return cls(name, TASK, (base,), variant)

    @property
    def base(self) -> str:
        """The plain intermediate this is a variant of (``mnli`` of ``mnli+mlm``)."""
        return self.name.partition(VARIANT_SEP)[0]

    @property
    def is_variant(self) -> bool:
        """A ``+mlm`` / ``+translate`` variant of the plain intermediate :attr:`base`."""
        return self.variant != PLAIN

    @property
    def mlm(self) -> bool:
        """Continued multilingual MLM batches are mixed into the intermediate phase."""
        return self.variant == MLM

    @property
    def translate(self) -> bool:
        """The intermediate phase also trains on the translations of its data."""
        return self.variant == TRANSLATE

    @property
    def trains(self) -> bool:
        """Whether the cell has an intermediate phase of its own."""
        return self.kind in (MULTITASK, TASK)

    @property
    def is_mixture(self) -> bool:
        """The multi-task mixture of the config."""
        return self.kind == MULTITASK

    @property
    def random_init(self) -> bool:
        """The target phase starts from a random init of the base architecture."""
        return self.kind == SCRATCH

    @property
    def is_control(self) -> bool:
        """``none`` or ``scratch``: no intermediate task."""
        return not self.trains

    @property
    def is_reference(self) -> bool:
        """The cell every gain is measured against (``none``)."""
        return self.kind == NONE

    @property
    def label(self) -> str:
        if self.is_variant:
            return f"{LABELS.get(self.kind, self.base)} {VARIANT_SEP}{self.variant}"
        return LABELS.get(self.kind, self.name)

    @property
    def order(self) -> int:
        """Plot/report order: none, the tasks, multitask, scratch (a variant right after its
        plain intermediate: the sort is stable on this key, then by name)."""
        return {NONE: 0, TASK: 1, MULTITASK: 2, SCRATCH: 3}[self.kind]

    def start(self, model: str, seed) -> str:
        """The checkpoint directory the target phase starts from: the base model for ``none``
        and ``scratch`` (``scratch`` takes only its architecture), the intermediate checkpoint
        otherwise."""
        return paths.inter_dir(model, self.name, seed) if self.trains else paths.base_dir(model)


def inter_kind(name: str) -> Inter:
    """The ``Inter`` of a name found in a table or a path (without the config's mixture)."""
    return Inter.named(name)


@dataclass(frozen=True, eq=False)
class BoundTask:
    """A registry task bound to a phase: its family, resolved hyperparameters and options."""

    task: object  # registry Task
    family: Family
    phase: str  # "intermediate" | "target"
    hparams: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)  # the family's options (Family.options)

    @property
    def name(self) -> str:
        return self.task.name

    @property
    def max_length(self) -> int:
        return int(self.hparams["max_length"])


@dataclass(frozen=True)
class Cell:
    """One (model, intermediate, target, seed) of the grid, with its paths."""

    model: str
    inter: Inter
    target: str
    seed: int

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.model, self.inter.name, self.target, int(self.seed))

    @property
    def dir(self) -> str:
        return paths.cell_dir(*self.key)

    @property
    def model_dir(self) -> str:
        return paths.cell_model_dir(*self.key)

    @property
    def eval_file(self) -> str:
        return paths.cell_eval(*self.key)

    @property
    def predictions(self) -> str:
        return paths.cell_predictions(*self.key)

    @property
    def profile_file(self) -> str:
        return paths.cell_profile(*self.key)

    @property
    def start(self) -> str:
        """The checkpoint directory the target phase starts from."""
        return self.inter.start(self.model, self.seed)

    @property
    def inter_dir(self) -> str | None:
        """The intermediate checkpoint of the cell, if it trains one."""
        return paths.inter_dir(self.model, self.inter.name, self.seed) if self.inter.trains else None

    @property
    def zero_shot(self) -> bool:
        from xstilts.core.registry import TASKS

        return TASKS[self.target].zero_shot

    @property
    def evaluated(self) -> str:
        """The checkpoint directory evaluation reads: the target checkpoint, or for a zero-shot
        target (no training set: BUCC, Tatoeba) the one the target phase would start from."""
        return self.start if self.zero_shot else self.model_dir

    @classmethod
    def from_path(cls, path) -> "Cell | None":
        """The cell of a path under ``results/cells/`` (``None`` for any other path)."""
        key = paths.parse_cell(path)
        if key is None:
            return None
        model, inter, target, seed = key
        return cls(model, Inter.named(inter), target, seed)

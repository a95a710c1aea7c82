"""Tasks whose family is not implemented yet.

They stay in the registry so that ``config/paper.yaml`` can list the whole study: the DAG
skips them and says so.  Each moves to its family's module when the family lands.
"""

from __future__ import annotations

from xstilts.registry import Task
from xstilts.tasks.sources import hub

TASKS = [
    Task("squad", "qa", "squad_em_f1", train=hub("rajpurkar/squad", None, "train", "squad"),
         dev=hub("rajpurkar/squad", None, "validation", "squad")),
    Task("squad_v2", "qa", "squad_em_f1", train=hub("rajpurkar/squad_v2", None, "train", "squad"),
         dev=hub("rajpurkar/squad_v2", None, "validation", "squad")),
    Task("xquad", "qa", "squad_em_f1", roles=("target",),
         languages=("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")),
    Task("mlqa", "qa", "mlqa_em_f1", roles=("target",),
         languages=("ar", "de", "en", "es", "hi", "vi", "zh")),
    Task("tydiqa", "qa", "squad_em_f1", roles=("target",),
         languages=("ar", "bn", "en", "fi", "id", "ko", "ru", "sw", "te")),
]

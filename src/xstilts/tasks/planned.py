"""Tasks whose family is not implemented yet.

They stay in the registry so that ``config/paper.yaml`` can list the whole study: the DAG
skips them and says so.  Each moves to its family's module when the family lands.
"""

from __future__ import annotations

from xstilts.registry import Task
from xstilts.tasks.sources import hub

TASKS = [
    Task("ccg", "tagging", "accuracy", note="CCGbank is licensed: give a local path in config"),
    Task("udpos", "tagging", "f1", roles=("target",)),
    Task("panx", "tagging", "f1", roles=("target",)),
    Task("bucc2018", "retrieval", "f1", roles=("target",),
         languages=("de", "fr", "ru", "zh")),
    Task("tatoeba", "retrieval", "accuracy", roles=("target",)),
    Task("lareqa", "retrieval", "map@20", roles=("target",)),
    Task("mewslix", "retrieval", "map@20", roles=("target",)),
]

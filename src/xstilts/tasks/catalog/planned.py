"""Tasks whose family is not implemented yet (none at present).

A task listed here stays in the registry so that a config can name it: the DAG skips it and
says so.  It moves to its family's module when the family lands.
"""

from __future__ import annotations

TASKS: list = []

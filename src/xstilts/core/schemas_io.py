"""Reading YAML: the config files and the JSON schemas shipped in ``core/schemas``.

libyaml's parser is used where PyYAML has it (several times faster than the pure-Python one: a
job reads its config and one or two schemas at start-up).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"


def load_yaml(text: str):
    """``yaml.safe_load`` through libyaml's parser where PyYAML has it."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@lru_cache(maxsize=None)
def read_schema(name: str) -> dict:
    """The schema ``core/schemas/<name>.schema.yaml`` (read once; callers must not modify it)."""
    return load_yaml((SCHEMA_DIR / f"{name}.schema.yaml").read_text())

"""Reading YAML: the config files and the JSON schemas shipped in ``core/schemas``.

A job should not need PyYAML: importing it and parsing a schema costs about 0.02 s, as much as
a light job's own work.  So the config snapshot a job reads is JSON (``config.snapshot_text``),
and a parsed schema is kept as JSON in ``core/schemas/__pycache__``, named by the hash of the
YAML text it came from (as Python keeps bytecode); PyYAML is imported only to parse a config a
user wrote or a schema that changed.  libyaml's parser is used where PyYAML has it.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"


def load_yaml(text: str):
    """``yaml.safe_load`` through libyaml's parser where PyYAML has it."""
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@lru_cache(maxsize=None)
def read_schema(name: str) -> dict:
    """The schema ``core/schemas/<name>.schema.yaml`` (read once; callers must not modify it)."""
    text = (SCHEMA_DIR / f"{name}.schema.yaml").read_text()
    cache = SCHEMA_DIR / "__pycache__" / f"{name}.{hashlib.sha256(text.encode()).hexdigest()[:16]}.json"
    try:
        return json.loads(cache.read_text())
    except (OSError, ValueError):  # not there yet (or unreadable): parse the YAML
        pass
    schema = load_yaml(text)
    try:  # atomically, for concurrent jobs; a read-only install just parses the YAML every time
        cache.parent.mkdir(exist_ok=True)
        for old in cache.parent.glob(f"{name}.*.json"):
            old.unlink(missing_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(schema))
        os.replace(tmp, cache)
    except OSError:
        pass
    return schema

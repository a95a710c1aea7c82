"""Arrow tables from Python columns, and from one parquet file, without pandas.

``pa.table``/``pa.Table.from_pydict`` convert Python lists through ``pa.array``, which makes
pyarrow import pandas (0.2-0.4 s) to ask whether each list is a pandas object.  The toy
generator and the ``aggregate`` stage never use pandas, so they assemble their arrays from
buffers here instead.
"""

from __future__ import annotations

import os
from array import array
from itertools import accumulate

import pyarrow as pa


def read_table(path) -> pa.Table:
    """One parquet file as a table, through ``ParquetFile``: ``pq.read_table`` goes through
    pyarrow's dataset layer, whose import (with pandas) costs a light job 0.02-0.2 s."""
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).read()


def write_parquet(table: pa.Table, path) -> None:
    """Write ``table`` to ``path`` through a temporary file and a rename: a reader (or a killed
    job) never leaves a half-written table under the real name."""
    import pyarrow.parquet as pq

    tmp = f"{path}.tmp{os.getpid()}"
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def columns_table(schema: pa.Schema, cols: dict) -> pa.Table:
    """The table of ``cols`` (one list per column of ``schema``, in any order), equal to
    ``pa.table(cols, schema=schema)``.

    Covers strings, 32/64-bit integers, float64, booleans, lists of them (``None``: null) and
    structs of them (no null structs); a value that does not fit its column's type is a
    TypeError."""
    if sorted(cols) != sorted(schema.names):
        raise ValueError(f"columns {sorted(cols)} do not match the schema's {sorted(schema.names)}")
    if len({len(v) for v in cols.values()}) > 1:
        raise ValueError(f"columns of unequal length: {[len(v) for v in cols.values()]}")
    return pa.Table.from_arrays([_array(f.type, cols[f.name]) for f in schema], schema=schema)


_INT_CODES = {pa.int32(): next(c for c in "ihl" if array(c).itemsize == 4), pa.int64(): "q"}
_NUMBER_CODES = {**_INT_CODES, pa.float64(): "d"}


def _offsets(lengths) -> pa.Buffer:
    return pa.py_buffer(array(_INT_CODES[pa.int32()], accumulate(lengths, initial=0)))


def _bitmap(flags) -> pa.Buffer:
    """A bitmap of ``flags``, least significant bit first (arrow's layout of booleans and
    validity)."""
    flags = list(flags)
    bits = bytearray((len(flags) + 7) // 8)
    for i, v in enumerate(flags):
        if v:
            bits[i >> 3] |= 1 << (i & 7)
    return pa.py_buffer(bits)


def _array(typ: pa.DataType, values: list) -> pa.Array:
    n = len(values)
    nulls = sum(v is None for v in values)
    validity = _bitmap(v is not None for v in values) if nulls else None
    if nulls and pa.types.is_struct(typ):
        raise TypeError(f"a {typ} column holds a null (no null structs)")
    if typ == pa.string():
        try:
            data = [b"" if v is None else v.encode("utf-8") for v in values]
        except AttributeError as err:
            raise TypeError(f"a {typ} column holds a non-string value: {err}") from None
        out = pa.Array.from_buffers(typ, n, [validity, _offsets(map(len, data)), pa.py_buffer(b"".join(data))],
                                    null_count=nulls)
    elif typ in _NUMBER_CODES:
        data = array(_NUMBER_CODES[typ], [0 if v is None else v for v in values])
        out = pa.Array.from_buffers(typ, n, [validity, pa.py_buffer(data)], null_count=nulls)
    elif typ == pa.bool_():
        if not all(v is None or isinstance(v, bool) for v in values):
            raise TypeError(f"a {typ} column holds a non-boolean value")
        out = pa.Array.from_buffers(typ, n, [validity, _bitmap(values)], null_count=nulls)
    elif pa.types.is_list(typ):
        values = [() if v is None else v for v in values]
        child = _array(typ.value_type, [x for v in values for x in v])
        out = pa.Array.from_buffers(typ, n, [validity, _offsets(map(len, values))], children=[child],
                                    null_count=nulls)
    elif pa.types.is_struct(typ):
        children = [_array(f.type, [v[f.name] for v in values]) for f in typ]
        out = pa.Array.from_buffers(typ, n, [None], children=children)
    else:
        raise TypeError(f"no column builder for type {typ}")
    out.validate(full=True)
    return out

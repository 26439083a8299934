"""Reading windows of data in chunks and sketching them: Parquet, CSV, Arrow, pandas, polars.

Memory is bounded by the chunk (``batch_rows`` rows) plus the sketches, not by the data: files
are streamed with pyarrow; in-memory frames are sliced.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from keel.monitor.sketch import (
    INTEGER_CARDINALITY_LIMIT,
    CategoricalSketch,
    ColumnSketch,
    DatasetSketch,
    Floats,
    NumericSketch,
    SketchError,
    as_categorical,
)

BATCH_ROWS = 65_536
"""Rows per chunk."""
WORKERS = min(4, os.cpu_count() or 1)
"""Threads updating column sketches in parallel."""

PARQUET = (".parquet", ".pq")
ARROW = (".arrow", ".feather", ".ipc")
CSV = (".csv",)


class WindowError(ValueError):
    """A window that cannot be read (missing file, unknown format, unreadable content)."""


def batches(source: Any, batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """Chunks of a data source.

    Args:
        source: A path (``.parquet``, ``.csv``, ``.arrow``/``.feather``/``.ipc``), a pyarrow
            Table, a pandas DataFrame or a polars DataFrame.
        batch_rows: Rows per chunk.

    Yields:
        Record batches.

    Raises:
        WindowError: If the source cannot be read.
    """
    if isinstance(source, str | Path):
        yield from _file_batches(Path(source), batch_rows)
        return
    table = _table(source)
    yield from table.to_batches(max_chunksize=batch_rows)


def _table(source: Any) -> pa.Table:
    if isinstance(source, pa.Table):
        return source
    module = type(source).__module__
    if module.startswith("pandas"):
        return pa.Table.from_pandas(source, preserve_index=False)
    if module.startswith("polars"):
        return source.to_arrow()
    raise WindowError(f"cannot read a {type(source).__name__}: give a path or a data frame")


def _file_batches(path: Path, batch_rows: int) -> Iterator[pa.RecordBatch]:
    if not path.is_file():
        raise WindowError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix in PARQUET:
            # pre_buffer (pyarrow's default) caches every row group read until the file is
            # closed: memory would grow with the file. Read through a 1 MiB buffer instead.
            parquet = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
            yield from parquet.iter_batches(batch_size=batch_rows)
        elif suffix in CSV:
            options = pa_csv.ReadOptions(block_size=1 << 22)
            reader = pa_csv.open_csv(path, read_options=options)
            for batch in reader:
                yield from pa.Table.from_batches([batch]).to_batches(max_chunksize=batch_rows)
        elif suffix in ARROW:
            with pa.memory_map(str(path)) as source:
                try:
                    reader = pa.ipc.open_file(source)
                    parts = (reader.get_batch(i) for i in range(reader.num_record_batches))
                except pa.ArrowInvalid:
                    source.seek(0)
                    parts = iter(pa.ipc.open_stream(source))
                for part in parts:
                    yield from pa.Table.from_batches([part]).to_batches(max_chunksize=batch_rows)
        else:
            known = ", ".join(PARQUET + CSV + ARROW)
            raise WindowError(f"{path}: unknown format '{suffix}' (use {known})")
    except (pa.ArrowException, OSError) as error:
        raise WindowError(f"{path}: {error}") from None


def _numeric(column: pa.Array) -> Floats:
    return np.asarray(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False), np.float64)


def _counts(column: pa.Array) -> tuple[list[Any], list[int], int]:
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    counted = pc.value_counts(column.drop_null())
    values = counted.field("values").to_pylist()
    counts = counted.field("counts").to_pylist()
    return values, counts, column.null_count


def _kind(data_type: pa.DataType) -> str | None:
    if pa.types.is_floating(data_type) or pa.types.is_decimal(data_type):
        return "float"
    if pa.types.is_integer(data_type):
        return "integer"
    if pa.types.is_boolean(data_type):
        return "categorical"
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type):
        return "string"
    if pa.types.is_dictionary(data_type):
        return "string"
    return None


@dataclass
class _Builder:
    rows: int = 0
    columns: dict[str, ColumnSketch] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)


def _update(item: tuple[str, ColumnSketch, pa.Array]) -> str | None:
    _, sketch, column = item
    try:
        if isinstance(sketch, NumericSketch):
            sketch.update(_numeric(column))
        else:
            sketch.update(*_counts(column))
    except (SketchError, pa.ArrowException) as error:
        return str(error)
    return None


def _run(
    pool: ThreadPoolExecutor, work: list[tuple[str, ColumnSketch, pa.Array]], built: _Builder
) -> None:
    """Update each column's sketch with its chunk, columns in parallel.

    numpy's sort and Arrow's kernels release the GIL, so threads use every core.
    """
    for (name, _, _), error in zip(work, pool.map(_update, work), strict=True):
        if error is not None:
            built.problems[name] = error
            built.columns.pop(name, None)


def sketch_reference(source: Any, batch_rows: int = BATCH_ROWS) -> DatasetSketch:
    """Sketch a reference window, inferring each column's type as Evidently does.

    Float columns are numerical; integer columns are categorical with at most 10 distinct
    values, else numerical; strings, booleans and dictionaries are categorical, unless more than
    half the values are distinct (text, left out); other types are left out.

    Args:
        source: See :func:`batches`.
        batch_rows: Rows per chunk.

    Returns:
        The sketch; left-out columns are in ``skipped`` with the reason.

    Raises:
        WindowError: If the source cannot be read.
    """
    built = _Builder()
    with ThreadPoolExecutor(WORKERS) as pool:
        for batch in batches(source, batch_rows):
            built.rows += batch.num_rows
            work: list[tuple[str, ColumnSketch, pa.Array]] = []
            for name, column in zip(batch.schema.names, batch.columns, strict=True):
                if name in built.problems:
                    continue
                kind = built.kinds.setdefault(name, _kind(column.type) or "")
                if not kind:
                    built.problems[name] = f"unsupported type {column.type}"
                    continue
                numeric = kind in ("float", "integer")
                sketch = built.columns.setdefault(
                    name, NumericSketch() if numeric else CategoricalSketch()
                )
                work.append((name, sketch, column))
            _run(pool, work, built)
    columns: dict[str, ColumnSketch] = {}
    for name, sketch in built.columns.items():
        kind = built.kinds[name]
        if isinstance(sketch, NumericSketch):
            few = sketch.nunique is not None and sketch.nunique <= INTEGER_CARDINALITY_LIMIT
            columns[name] = as_categorical(sketch) if kind == "integer" and few else sketch
        elif kind == "string" and sketch.nunique > 0.5 * sketch.n:
            built.problems[name] = "text (more than half the values are distinct): not tested"
        else:
            columns[name] = sketch
        if sketch.n == 0 and name in columns:
            built.problems[name] = "every value is missing"
            del columns[name]
    return DatasetSketch(built.rows, columns, built.problems)


def sketch_window(
    source: Any, reference: DatasetSketch, batch_rows: int = BATCH_ROWS
) -> tuple[DatasetSketch, dict[str, str]]:
    """Sketch a current window with the reference's column types.

    Args:
        source: See :func:`batches`.
        reference: The reference sketch.
        batch_rows: Rows per chunk.

    Returns:
        The window's sketch, and a problem per reference column that could not be sketched
        (missing from the window, of another type, entirely missing values).

    Raises:
        WindowError: If the source cannot be read.
    """
    built = _Builder()
    seen: set[str] = set()
    with ThreadPoolExecutor(WORKERS) as pool:
        for batch in batches(source, batch_rows):
            built.rows += batch.num_rows
            work: list[tuple[str, ColumnSketch, pa.Array]] = []
            for name, column in zip(batch.schema.names, batch.columns, strict=True):
                expected = reference.columns.get(name)
                if expected is None or name in built.problems:
                    continue
                seen.add(name)
                kind = _kind(column.type)
                if isinstance(expected, NumericSketch):
                    if kind not in ("float", "integer"):
                        if column.null_count == len(column):  # an all-null chunk has no type
                            empty = built.columns.setdefault(name, NumericSketch())
                            empty.missing += len(column)
                            continue
                        built.problems[name] = (
                            f"numerical in the reference, {column.type} here (mixed types)"
                        )
                        continue
                    work.append((name, built.columns.setdefault(name, NumericSketch()), column))
                elif kind is None:
                    built.problems[name] = f"unsupported type {column.type}"
                else:
                    sketch = built.columns.setdefault(name, CategoricalSketch())
                    work.append((name, sketch, column))
            _run(pool, work, built)
    for name in reference.columns:
        if name not in seen and name not in built.problems:
            built.problems[name] = "missing from the current window"
        elif name in built.columns and built.columns[name].n == 0:
            built.problems[name] = "every value is missing in the current window"
    for name in built.problems:
        built.columns.pop(name, None)
    return DatasetSketch(built.rows, built.columns, {}), built.problems

"""File containers: JSON Lines, JSON arrays and Parquet, each optionally gzip-compressed (JSON).

This layer knows nothing of records: it turns a file into decoded JSON objects, each with the line
(JSON, JSONL) or row (Parquet) it started on, and reports what is unreadable as `Problem`s instead
of raising. Writing is atomic: a temporary file in the target directory replaced into place, so an
interrupted write never leaves a half-written file behind.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tempfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rlhf.data.validation import Problem
from rlhf.errors import UserError

Container = Literal["jsonl", "json", "parquet"]
CONTAINER_SUFFIXES: dict[str, Container] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
}
JSON_COLUMNS_KEY = b"rlhf.json_columns"
"""Parquet schema metadata naming the columns stored as JSON text (free-form objects)."""


class UnsupportedFileError(UserError):
    """A path whose suffix names no container rlhf can read or write."""


@dataclass(frozen=True, slots=True)
class SourceObject:
    """A decoded JSON value and the 1-based line (or Parquet row) where it starts."""

    line: int
    value: Any


def is_gzip(path: Path) -> bool:
    return path.suffix == ".gz"


def container_of(path: Path) -> Container:
    """The container a path names by its suffix (`.gz` is looked through)."""
    suffix = path.with_suffix("").suffix if is_gzip(path) else path.suffix
    if suffix not in CONTAINER_SUFFIXES:
        known = ", ".join(sorted(CONTAINER_SUFFIXES))
        raise UnsupportedFileError(
            f"{path}: unknown file type {suffix or '(none)'!r}; use one of {known} (optionally .gz)"
        )
    container = CONTAINER_SUFFIXES[suffix]
    if container == "parquet" and is_gzip(path):
        raise UnsupportedFileError(f"{path}: Parquet compresses itself; drop the .gz suffix")
    return container


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _loads(text: str) -> Any:
    return json.loads(text, parse_constant=_reject_constant)


def read_objects(path: Path) -> Iterator[SourceObject | Problem]:
    """Every JSON object in `path`, or a `Problem` for each part that cannot be read."""
    where = str(path)
    try:
        container = container_of(path)
    except UnsupportedFileError as error:
        yield Problem(where, None, "file", str(error).removeprefix(f"{path}: "))
        return
    if container == "parquet":
        yield from _read_parquet(path)
        return
    try:
        data = path.read_bytes()
        if is_gzip(path):
            data = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as error:
        yield Problem(where, None, "file", f"cannot read: {error}")
        return
    if container == "json" and data.lstrip()[:1] == b"[":
        yield from _read_json_array(where, data)
    else:  # JSON Lines; a .json file holding one object per line reads the same
        yield from _read_json_lines(where, data)


def _read_json_lines(where: str, data: bytes) -> Iterator[SourceObject | Problem]:
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            yield Problem(where, number, "encoding", f"invalid UTF-8 at byte {error.start}")
            continue
        try:
            yield SourceObject(number, _loads(text))
        except json.JSONDecodeError as error:
            yield Problem(where, number, "json", f"{error.msg} (column {error.colno})")
        except (ValueError, RecursionError) as error:
            yield Problem(where, number, "json", str(error) or type(error).__name__)


def _read_json_array(where: str, data: bytes) -> Iterator[SourceObject | Problem]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        yield Problem(where, line, "encoding", f"invalid UTF-8 at byte {error.start}")
        return
    decoder = json.JSONDecoder(parse_constant=_reject_constant)
    position = text.index("[") + 1
    line = text.count("\n", 0, position) + 1
    while True:
        skip = len(text) - position - len(text[position:].lstrip())
        line += text.count("\n", position, position + skip)
        position += skip
        if text.startswith("]", position):
            if text[position + 1 :].strip():
                yield Problem(where, line, "json", "extra data after the closing ]")
            return
        try:
            value, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            yield Problem(where, error.lineno, "json", f"{error.msg} (column {error.colno})")
            return
        except (ValueError, RecursionError) as error:
            yield Problem(where, line, "json", str(error) or type(error).__name__)
            return
        yield SourceObject(line, value)
        line += text.count("\n", position, end)
        position = end
        rest = text[position:].lstrip()
        line += text.count("\n", position, len(text) - len(rest))
        position = len(text) - len(rest)
        if rest.startswith(","):
            position += 1
        elif not rest.startswith("]"):
            yield Problem(where, line, "json", "expected ',' or ']' between array elements")
            return


def _read_parquet(path: Path) -> Iterator[SourceObject | Problem]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as error:
        yield Problem(str(path), None, "file", f"not a readable Parquet file: {error}")
        return
    meta = table.schema.metadata or {}
    json_columns = (
        set(_loads(meta[JSON_COLUMNS_KEY].decode())) if JSON_COLUMNS_KEY in meta else set()
    )
    for row, values in enumerate(table.to_pylist(), start=1):
        obj = {}
        for key, value in values.items():
            if value is None:  # Parquet cannot tell an absent field from a null one
                continue
            obj[key] = _loads(value) if key in json_columns else value
        yield SourceObject(row, obj)


# --- writing ---------------------------------------------------------------------------------------


@contextmanager
def atomic_open(path: Path) -> Iterator[io.BufferedIOBase]:
    """A binary file that appears at `path` complete, or not at all (temp file + `os.replace`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as raw:
            yield raw
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically."""
    with atomic_open(path) as out:
        out.write(text.encode("utf-8"))


def write_objects(objects: Sequence[Any], path: Path) -> None:
    """Write JSON-serializable objects to `path` in the container its suffix names, atomically."""
    container = container_of(path)
    writers: dict[Container, Callable[[Sequence[Any], io.BufferedIOBase], None]] = {
        "jsonl": _write_json_lines,
        "json": _write_json_array,
        "parquet": _write_parquet,
    }
    with atomic_open(path) as raw:
        if is_gzip(path):
            with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as zipped:
                writers[container](objects, zipped)
        else:
            writers[container](objects, raw)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")


def _write_json_lines(objects: Sequence[Any], out: io.BufferedIOBase) -> None:
    for obj in objects:
        out.write(_dumps(obj) + b"\n")


def _write_json_array(objects: Sequence[Any], out: io.BufferedIOBase) -> None:
    """One element per line, so that the line numbers of problems point at records."""
    out.write(b"[\n" + b",\n".join(_dumps(obj) for obj in objects) + b"\n]\n")


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _native_column(values: list[Any]) -> bool:
    """Whether Parquet can hold a column losslessly as typed data rather than JSON text."""
    present = [v for v in values if v is not None]
    if all(_is_scalar(v) for v in present):
        return len({type(v) for v in present}) <= 1
    if not all(isinstance(v, list) for v in present):
        return False
    items = [item for v in present for item in v]
    if all(_is_scalar(item) for item in items):
        return len({type(item) for item in items}) <= 1
    if not all(isinstance(item, dict) for item in items):
        return False  # a mixed list (text or messages) has no single Arrow type
    return len({tuple(sorted(item)) for item in items}) <= 1 and all(
        _is_scalar(field) for item in items for field in item.values()
    )


def _write_parquet(objects: Sequence[Any], out: io.BufferedIOBase) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not all(isinstance(obj, dict) for obj in objects):
        raise ValueError("Parquet holds one object per row; these records are not all objects")
    columns = list(dict.fromkeys(key for obj in objects for key in obj))
    json_columns = [c for c in columns if not _native_column([obj.get(c) for obj in objects])]
    # Column by column: from_pylist would take the columns of the first row only.
    table = pa.table(
        {
            c: [
                None
                if c not in obj
                else json.dumps(obj[c], ensure_ascii=False)
                if c in json_columns
                else obj[c]
                for obj in objects
            ]
            for c in columns
        }
    )
    meta = {JSON_COLUMNS_KEY: json.dumps(json_columns).encode()}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **meta})
    pq.write_table(table, out)

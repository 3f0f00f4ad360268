"""Reading, validating and writing record files: containers (`files`) composed with formats.

`read_file` returns every record it could parse together with every problem found, each located as
`FILE:LINE: field: reason`; `load_records` is the strict form that training and import use: any
problem and it raises `InvalidDataError` listing them all. `write_records` writes atomically.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rlhf.data.files import SourceObject, read_objects, write_objects
from rlhf.data.formats import Format, detect_format, get_format
from rlhf.data.records import Record, RecordKind, kind_of
from rlhf.data.validation import InvalidDataError, InvalidRecordError, Problem, check_record
from rlhf.progress import progress

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedRecord:
    """A record and the line (or Parquet row) of the object it came from."""

    line: int
    record: Record


@dataclass
class ReadResult:
    """What a file holds: the records that parsed, and everything wrong with it."""

    path: Path
    format: Format | None
    """The format used (given or detected); None when the file held no readable object."""
    entries: list[LoadedRecord] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def records(self) -> list[Record]:
        return [entry.record for entry in self.entries]

    @property
    def valid_records(self) -> list[Record]:
        """The records of the lines (or rows) with no problem: the file with its invalid records
        left out, e.g. HH-RLHF's few pairs with an empty turn."""
        bad = {problem.line for problem in self.problems}
        return [entry.record for entry in self.entries if entry.line not in bad]

    @property
    def kind(self) -> RecordKind | None:
        return kind_of(self.entries[0].record) if self.entries else None


def read_file(path: Path | str, *, format: str | None = None) -> ReadResult:
    """Read every record of `path`, collecting problems instead of stopping at the first."""
    path = Path(path)
    chosen = get_format(format) if format else None
    result = ReadResult(path=path, format=chosen)
    if not path.is_file():
        reason = "is a directory, not a file" if path.is_dir() else "no such file"
        result.problems.append(Problem(str(path), None, "file", reason))
        return result
    for item in progress(read_objects(path), desc=f"reading {path.name}", unit="rec"):
        if isinstance(item, Problem):
            result.problems.append(item)
            continue
        if result.format is None:
            result.format = (
                detect_format(item.value) if isinstance(item.value, dict) else get_format("rlhf")
            )
            logger.info("%s: reading as format %r", path, result.format.name)
        _decode(result, result.format, item)
    if not result.entries and not result.problems:
        result.problems.append(Problem(str(path), None, "file", "holds no records"))
    return result


def _decode(result: ReadResult, fmt: Format, item: SourceObject) -> None:
    where = str(result.path)
    try:
        records = fmt.decode(item.value)
    except InvalidRecordError as error:
        result.problems.extend(Problem(where, item.line, f, r) for f, r in error.errors)
        return
    for record in records:
        expected = result.kind
        if expected is not None and kind_of(record) != expected:
            reason = (
                f"a {kind_of(record)} record in a file of {expected} records; use one kind per file"
            )
            result.problems.append(Problem(where, item.line, "record", reason))
            continue
        result.problems.extend(Problem(where, item.line, f, r) for f, r in check_record(record))
        result.entries.append(LoadedRecord(item.line, record))


def load_records(path: Path | str, *, format: str | None = None) -> list[Record]:
    """The records of `path`; raises `InvalidDataError` (listing every problem) if any is invalid."""
    result = read_file(path, format=format)
    if result.problems:
        raise InvalidDataError(result.problems)
    return result.records


def write_records(records: Sequence[Record], path: Path | str, *, format: str = "rlhf") -> None:
    """Write records to `path` in `format`; the container follows the suffix. Atomic."""
    fmt = get_format(format)
    write_objects(fmt.encode(records), Path(path))

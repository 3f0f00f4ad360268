"""The data contract: canonical records, their validation, and the file formats users bring."""

from rlhf.data.formats import FORMATS, ConversionError, Format, detect_format, get_format
from rlhf.data.io import LoadedRecord, ReadResult, load_records, read_file, write_records
from rlhf.data.records import (
    Annotation,
    Demonstration,
    Judgment,
    Message,
    PreferencePair,
    PromptRecord,
    Ranking,
    Record,
    RecordKind,
    Text,
    kind_of,
    record_to_json,
)
from rlhf.data.validation import (
    InvalidDataError,
    InvalidRecordError,
    Problem,
    check_record,
    parse_record,
)

__all__ = [
    "FORMATS",
    "Annotation",
    "ConversionError",
    "Demonstration",
    "Format",
    "InvalidDataError",
    "InvalidRecordError",
    "Judgment",
    "LoadedRecord",
    "Message",
    "PreferencePair",
    "Problem",
    "PromptRecord",
    "Ranking",
    "ReadResult",
    "Record",
    "RecordKind",
    "Text",
    "check_record",
    "detect_format",
    "get_format",
    "kind_of",
    "load_records",
    "parse_record",
    "read_file",
    "record_to_json",
    "write_records",
]

"""The PandaLM human test set (Wang et al. 2023): each object holds three annotators' labels.

Labels are 1 (response1 better), 2 (response2 better) or 0 (tie). One object reads as three
`Annotation`s of one item (`pandalm-<idx>`), annotators `annotator1`..`annotator3`. The prompt is the
instruction followed by its input. Six responses in the published file are JSON booleans (a model
answered "True"); they read as the text `True`/`False` and are written back as booleans, recorded
in `metadata`. Writing groups annotations by item, in order of first appearance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rlhf.data.formats.base import ConversionError, Format
from rlhf.data.records import Annotation, Judgment, Record, render_plain
from rlhf.data.validation import InvalidRecordError

LABELS: dict[int, Judgment] = {1: "a", 2: "b", 0: "tie"}
JUDGMENT_LABELS = {judgment: label for label, judgment in LABELS.items()}
ANNOTATORS = ("annotator1", "annotator2", "annotator3")
CONTEXT = ("idx", "motivation_app", "cmp_key", "instruction", "input")
RESPONSES = ("response1", "response2")


def prompt_of(instruction: str, input_text: str) -> str:
    return f"{instruction}\n\n{input_text}" if input_text else instruction


def decode(obj: Any) -> list[Record]:
    if not isinstance(obj, dict):
        raise InvalidRecordError([("record", "expected a JSON object")])
    errors = [(k, "missing") for k in (*CONTEXT, *RESPONSES) if k not in obj]
    errors += [
        (k, "expected a string")
        for k in ("instruction", "input")
        if k in obj and not isinstance(obj[k], str)
    ]
    errors += [
        (k, "expected a string")
        for k in RESPONSES
        if k in obj and not isinstance(obj[k], str | bool)
    ]
    labelled = [a for a in ANNOTATORS if a in obj]
    errors += [(a, f"expected 0, 1 or 2, got {obj[a]!r}") for a in labelled if obj[a] not in LABELS]
    if not labelled:
        errors.append(("annotator1", "missing: no annotator labels"))
    if errors:
        raise InvalidRecordError(errors)
    boolean = [i for i, k in enumerate(RESPONSES) if isinstance(obj[k], bool)]
    context = {k: obj[k] for k in CONTEXT}
    metadata = {"pandalm": context | ({"boolean_responses": boolean} if boolean else {})}
    return [
        Annotation(
            item_id=f"pandalm-{obj['idx']}",
            annotator=annotator,
            prompt=prompt_of(obj["instruction"], obj["input"]),
            responses=tuple(str(obj[k]) for k in RESPONSES),
            judgment=LABELS[obj[annotator]],
            source="pandalm",
            metadata=metadata,
        )
        for annotator in labelled
    ]


def _object(annotations: list[Annotation], number: int) -> dict[str, Any]:
    first = annotations[0]
    context = dict(first.metadata.get("pandalm", {}))
    boolean = context.pop("boolean_responses", [])
    if not context:
        context = {
            "idx": number,
            "motivation_app": "",
            "cmp_key": "",
            "instruction": render_plain(first.prompt),
            "input": "",
        }
    responses = [render_plain(t) for t in first.responses]
    out: dict[str, Any] = {**context}
    for i, key in enumerate(RESPONSES):
        out[key] = responses[i] == "True" if i in boolean else responses[i]
    for i, annotation in enumerate(annotations, start=1):
        if annotation.judgment not in JUDGMENT_LABELS:
            raise ConversionError(
                f"item {annotation.item_id}: PandaLM labels are a, b or tie, not {annotation.judgment or 'ranks'}"
            )
        out[f"annotator{i}"] = JUDGMENT_LABELS[annotation.judgment]
    return out


def encode(records: Sequence[Record]) -> list[Any]:
    items: dict[str, list[Annotation]] = {}
    for record in records:
        if not isinstance(record, Annotation) or len(record.responses) != 2:
            raise ConversionError("PandaLM holds annotations of two responses")
        items.setdefault(record.item_id, []).append(record)
    return [_object(group, number) for number, group in enumerate(items.values(), start=1)]


def detect(obj: Mapping[str, Any]) -> bool:
    return {"response1", "response2", "annotator1"} <= set(obj)


FORMAT = Format(
    name="pandalm",
    summary="PandaLM human test set (three annotators per object, ties as label 0)",
    kinds=("annotation",),
    decode=decode,
    encode=encode,
    detect=detect,
)

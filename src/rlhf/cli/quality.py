"""`rlhf quality ...`: how far to trust the labels, and training pairs that say how far.

`quality report` writes an HTML report (agreement, consensus, per-annotator diagnostics) and, with
`--json`, a summary line; `quality aggregate` writes one training pair per item with the
consensus confidence as a soft label. Both read annotations from a store (`--db`) or a file
(`--data`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rlhf.cli.base import Command, Output, Summary, read_valid
from rlhf.data import Annotation, write_records
from rlhf.data.files import atomic_write_text
from rlhf.data.formats import FormatName
from rlhf.errors import UserError
from rlhf.quality.aggregate import AGGREGATORS, Method, consensus_pairs
from rlhf.quality.labels import LabelTable

PairFormat = Literal["rlhf", "trl"]


@dataclass(frozen=True, kw_only=True)
class SourceConfig:
    db: str | None = None
    """The store to read annotations from: an SQLite path or URL, or a PostgreSQL URL."""
    data: Path | None = None
    """A file of annotations instead of a store (.jsonl, .json, .parquet; formats rlhf,
    summarize or pandalm)."""
    format: FormatName | None = None
    """The file's format; detected from its first record when not given."""

    def __post_init__(self) -> None:
        if (self.db is None) == (self.data is None):
            raise ValueError("give exactly one of --db URL or --data FILE")
        if self.format is not None and self.data is None:
            raise ValueError("--format applies to --data FILE only")


@dataclass(frozen=True, kw_only=True)
class ReportConfig(SourceConfig):
    output: Path = Path("quality-report.html")
    """The HTML report to write (self-contained: tables and charts in one file)."""
    resamples: int = 1000
    """Bootstrap resamples over items for each confidence interval (0: no intervals)."""
    confidence: float = 0.95
    """Coverage of the confidence intervals."""
    alpha: float = 0.01
    """Significance level of the per-annotator tests (position, length, fatigue, speed, spam)."""
    seed: int = 0
    """Seed of the bootstrap and permutation tests."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.resamples < 0:
            raise ValueError(f"--resamples must be >= 0, got {self.resamples}")
        for name in ("confidence", "alpha"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"--{name} must lie in (0, 1), got {getattr(self, name)}")


@dataclass(frozen=True, kw_only=True)
class AggregateConfig(SourceConfig):
    out: Path
    """The pairs file to write; its suffix picks the container (.jsonl, .json, .parquet, .gz)."""
    method: Method = "dawid-skene"
    """How to combine annotators: majority vote, Dawid-Skene EM, or crowd Bradley-Terry."""
    to: PairFormat = "rlhf"
    """The format of the pairs file (both keep the confidence and metadata)."""


def _from_file(path: Path, format: str | None, out: Output) -> LabelTable:
    result = read_valid(path, format, out)
    if result.kind != "annotation":
        raise UserError(
            f"{path}: holds {result.kind} records; quality needs annotations (one record per "
            "annotator and item, with item_id and annotator), e.g. the summarize or pandalm formats"
        )
    annotations = [e.record for e in result.entries if isinstance(e.record, Annotation)]
    return LabelTable.from_annotations(annotations, [f"{path}:{e.line}" for e in result.entries])


def _from_store(url: str) -> LabelTable:
    from rlhf.store import Store
    from rlhf.store.connect import normalize_url

    parsed = normalize_url(url)
    database = parsed.database or ""
    is_file = parsed.get_backend_name() == "sqlite" and database and database[0] not in ":f"
    if is_file and not Path(database).expanduser().is_file():  # reading must not create a store
        raise UserError(f"{url}: no such database file; give the path of an existing store")
    with Store.open(url) as store:
        annotations = store.export_annotations()
    return LabelTable.from_annotations(
        annotations, [f"{url}: annotation {k + 1}" for k in range(len(annotations))]
    )


def load_table(config: SourceConfig, out: Output) -> LabelTable:
    """The label table of `--data` or `--db`; a clear error when it holds no pairwise judgments."""
    if config.data is not None:
        table = _from_file(config.data, config.format, out)
    else:
        assert config.db is not None
        table = _from_store(config.db)
    source = config.data or config.db
    if not table.items:
        raise UserError(
            f"{source}: no judgments of two responses (a, b, tie, both_bad) to analyze"
            + (f"; {table.skipped} annotations by ranks are not supported" if table.skipped else "")
        )
    return table


def _headline(summary: Summary) -> str:
    def show(value: object) -> str:
        return f"{value:.3f}" if isinstance(value, float) and math.isfinite(value) else "n/a"

    return (
        f"{summary['items']} items, {summary['judgments']} judgments, "
        f"{len(summary['annotators'])} annotators: percent agreement "
        f"{show(summary['percent_agreement'])}, Fleiss' kappa {show(summary['fleiss_kappa'])}, "
        f"Krippendorff's alpha {show(summary['krippendorff_alpha'])} (nominal), "
        f"{show(summary['krippendorff_alpha_ordinal'])} (ordinal)"
    )


def report(config: ReportConfig, out: Output) -> Summary:
    from rlhf.quality.analysis import analyze
    from rlhf.quality.diagnostics import Thresholds
    from rlhf.quality.report import render

    table = load_table(config, out)
    analysis = analyze(
        table,
        resamples=config.resamples,
        confidence=config.confidence,
        seed=config.seed,
        thresholds=Thresholds(alpha=config.alpha, seed=config.seed),
    )
    source = str(config.data or config.db)
    atomic_write_text(config.output, render(analysis, title=f"Annotation quality: {source}"))
    summary = analysis.summary()
    out.line(_headline(summary))
    for name, annotator in analysis.annotators.items():
        if annotator.flags:
            out.line(f"  {name}: {', '.join(annotator.flags)}")
    out.line(f"report written to {config.output}")
    return {"ok": True, "report": str(config.output), **summary}


def aggregate(config: AggregateConfig, out: Output) -> Summary:
    table = load_table(config, out)
    consensus = AGGREGATORS[config.method](table)
    result = consensus_pairs(table, consensus, config.method)
    write_records(result.pairs, config.out, format=config.to)
    ties = sum(pair.tie for pair in result.pairs)
    confidences = [p.confidence for p in result.pairs if p.confidence is not None]
    mean = round(sum(confidences) / len(confidences), 6) if confidences else None
    out.line(
        f"{config.method}: {len(result.pairs)} pairs ({ties} ties) from {len(table.items)} items "
        f"-> {config.out}; {result.dropped} items without a preference left out"
    )
    return {
        "ok": True,
        "method": config.method,
        "items": len(table.items),
        "pairs": len(result.pairs),
        "ties": ties,
        "dropped": result.dropped,
        "mean_confidence": mean,
        "output": str(config.out),
    }


COMMANDS = (
    Command(
        "quality report",
        "agreement, consensus and per-annotator bias, fatigue and spam, as an HTML report",
        ReportConfig,
        report,
    ),
    Command(
        "quality aggregate",
        "combine annotators into training pairs whose confidence is a soft label",
        AggregateConfig,
        aggregate,
    ),
)

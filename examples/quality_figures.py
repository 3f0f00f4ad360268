"""The measured figures of docs/quality.md: real agreement data and the planted-bias simulation.

    .venv/bin/python examples/quality_figures.py [SHARED_DATA_DIR]   # default: ../shared/data

Prints PandaLM's pairwise Cohen's kappa, Fleiss' kappa and Krippendorff's alpha (with bootstrap
intervals); per-worker agreement with the consensus and position bias on summarize-from-feedback;
and, on simulated annotators with planted biases, what the diagnostics flag and how often each
aggregator recovers the gold label, over several seeds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from rlhf.data import Annotation, load_records
from rlhf.quality.aggregate import AGGREGATORS
from rlhf.quality.analysis import analyze
from rlhf.quality.consensus import dawid_skene, gold_accuracy, majority_vote
from rlhf.quality.labels import CATEGORIES, MISSING, LabelTable
from rlhf.quality.simulate import PLANTED, annotate, synthetic_items

SEEDS = range(5)


def pandalm(data: Path) -> None:
    table = LabelTable.from_annotations(load_records(data / "pandalm-testset/testset-v1.json"))  # type: ignore[arg-type]
    analysis = analyze(table, resamples=1000, seed=0)
    a = analysis.agreement
    print("## PandaLM (999 items x 3 annotators, ties allowed)")
    for pair, estimate in a.cohen_kappa.items():
        print(
            f"Cohen's kappa {pair[0]}-{pair[1]}: {estimate}  (agreement {a.pair_agreement[pair]:.3f})"
        )
    print(f"percent agreement:              {a.percent}")
    print(f"Fleiss' kappa:                  {a.fleiss_kappa}")
    print(f"Krippendorff's alpha (nominal): {a.alpha_nominal}")
    print(f"Krippendorff's alpha (ordinal): {a.alpha_ordinal}")
    for method, consensus in analysis.consensus.items():
        counts = np.bincount(consensus.labels[consensus.labels != MISSING], minlength=4)
        print(
            f"consensus {method}: "
            + ", ".join(f"{c} {n}" for c, n in zip(CATEGORIES, counts, strict=True))
        )


def summarize(data: Path) -> None:
    path = data / "summarize-from-feedback/comparisons/batch13.json"
    annotations: list[Annotation] = load_records(path)  # type: ignore[assignment]
    table = LabelTable.from_annotations(annotations)
    analysis = analyze(table, resamples=1000, seed=0)
    multi = int(((table.codes != MISSING).sum(axis=1) > 1).sum())
    labels_on_multi = int((table.codes[(table.codes != MISSING).sum(axis=1) > 1] != MISSING).sum())
    print("\n## summarize-from-feedback batch13 (1097 judgments, 27 workers)")
    print(f"{multi} items with more than one label ({labels_on_multi} labels)")
    a = analysis.agreement
    print(f"Fleiss' kappa {a.fleiss_kappa}; Krippendorff's alpha {a.alpha_nominal}")
    print("worker                          labels  vs consensus  agreement  left rate  p (left)")
    for name, report in sorted(analysis.annotators.items(), key=lambda kv: -kv[1].spam.n):
        spam = report.spam
        agreement = f"{report.agreement:.2f}" if report.agreement is not None else "n/a"
        left = report.position
        print(
            f"{name:31} {report.labels:6d}  {spam.n:12d}  {agreement:>9}  "
            f"{left.value or 0:9.2f}  {left.p_value or 1:.3g}"
            + ("  flags: " + ", ".join(report.flags) if report.flags else "")
        )


def simulated() -> None:
    print("\n## Simulated annotators with planted biases (300 items, 6 annotators)")
    accuracy: dict[str, list[float]] = {"majority (split = tie)": [], "majority (coin)": []}
    accuracy |= {"dawid-skene": [], "dawid-skene, tie class forced": [], "crowd-bt": []}
    for seed in SEEDS:
        items, gold = synthetic_items(300, seed=seed)
        table = LabelTable.from_annotations(annotate(items, PLANTED, gold, seed=seed))
        analysis = analyze(table, resamples=0, seed=seed)
        flags = {n: r.flags for n, r in analysis.annotators.items() if r.flags}
        print(f"seed {seed}: flagged {flags}")
        for method in ("dawid-skene", "crowd-bt"):
            accuracy[method].append(gold_accuracy(analysis.consensus[method].labels, table.gold)[0])
        accuracy["majority (split = tie)"].append(
            gold_accuracy(analysis.consensus["majority"].labels, table.gold)[0]
        )
        forced = dawid_skene(table.codes, len(CATEGORIES)).consensus.labels  # all 4 classes latent
        accuracy["dawid-skene, tie class forced"].append(gold_accuracy(forced, table.gold)[0])
        coin = majority_vote(table.codes, len(CATEGORIES), split="random", seed=seed)
        accuracy["majority (coin)"].append(gold_accuracy(coin.labels, table.gold)[0])
    print("accuracy on gold, seeds " + ", ".join(map(str, SEEDS)))
    for method, values in accuracy.items():
        print(
            f"{method:24} "
            + " ".join(f"{v:.3f}" for v in values)
            + f"   mean {np.mean(values):.3f}"
        )
    assert set(AGGREGATORS) == {"majority", "dawid-skene", "crowd-bt"}


def main() -> None:
    data = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    pandalm(data)
    summarize(data)
    simulated()


if __name__ == "__main__":
    main()

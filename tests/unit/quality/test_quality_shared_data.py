"""Real annotations: PandaLM (three annotators, ties) and summarize-from-feedback (worker ids)."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import krippendorff
import numpy as np
import pytest
from scipy.stats import binomtest

from rlhf.data import Annotation, load_records
from rlhf.quality.agreement import (
    cohen_kappa,
    fleiss_kappa,
    krippendorff_alpha,
    pair_agreement,
    percent_agreement,
)
from rlhf.quality.analysis import analyze
from rlhf.quality.consensus import leave_one_out_majority
from rlhf.quality.diagnostics import Thresholds, position_bias
from rlhf.quality.labels import MISSING, LabelTable

PANDALM = "pandalm-testset/testset-v1.json"
SUMMARIZE = "summarize-from-feedback/comparisons/batch13.json"


@pytest.fixture(scope="module")
def pandalm(shared_data: Path) -> LabelTable:
    return LabelTable.from_annotations(load_records(shared_data / PANDALM))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def summarize(shared_data: Path) -> list[Annotation]:
    return load_records(shared_data / SUMMARIZE)  # type: ignore[return-value]


def test_pandalm_reproduces_the_published_pairwise_kappas(pandalm: LabelTable) -> None:
    assert pandalm.annotators == ("annotator1", "annotator2", "annotator3")
    assert pandalm.codes.shape == (999, 3)
    codes = pandalm.codes
    kappas = [
        round(cohen_kappa(codes[:, j], codes[:, k], 4), 3) for j, k in ((0, 1), (0, 2), (1, 2))
    ]
    agreements = [
        round(pair_agreement(codes[:, j], codes[:, k]), 3) for j, k in ((0, 1), (0, 2), (1, 2))
    ]
    assert kappas == [0.852, 0.879, 0.862]  # README of the data; the paper: 0.85 / 0.88 / 0.86
    assert agreements == [0.913, 0.929, 0.918]
    unanimous = int((codes == codes[:, :1]).all(axis=1).sum())
    assert unanimous == 879


def test_pandalm_fleiss_and_krippendorff_agree_with_the_package(pandalm: LabelTable) -> None:
    reliability = pandalm.codes.T.astype(float)
    ordinal = pandalm.ordinal_codes().T.astype(float)
    nominal = krippendorff.alpha(reliability_data=reliability, level_of_measurement="nominal")
    ordered = krippendorff.alpha(reliability_data=ordinal, level_of_measurement="ordinal")
    assert krippendorff_alpha(pandalm.codes, 4) == pytest.approx(nominal, abs=1e-9)
    assert krippendorff_alpha(pandalm.ordinal_codes(), 3, "ordinal") == pytest.approx(
        ordered, abs=1e-9
    )
    # measured here (no missing labels: Fleiss' kappa and nominal alpha nearly coincide)
    assert fleiss_kappa(pandalm.codes, 4) == pytest.approx(0.8642, abs=1e-4)
    assert nominal == pytest.approx(0.8642, abs=1e-4)
    assert ordered == pytest.approx(0.8775, abs=1e-4)
    assert percent_agreement(pandalm.codes) == pytest.approx(0.9199, abs=1e-4)


def test_summarize_per_worker_agreement_with_consensus(summarize: list[Annotation]) -> None:
    by_item: dict[str, list[Annotation]] = defaultdict(list)
    for a in summarize:
        by_item[a.item_id].append(a)
    multi = {item: group for item, group in by_item.items() if len(group) > 1}
    assert (len(multi), sum(len(g) for g in multi.values())) == (40, 232)
    table = LabelTable.from_annotations(summarize)
    loo = leave_one_out_majority(table.codes, 4)
    # a loop: each label against the strict majority of the item's other labels
    expected: dict[str, list[bool]] = defaultdict(list)
    for group in multi.values():
        for a in group:
            votes = Counter(o.judgment for o in group if o is not a).most_common()
            if len(votes) == 1 or votes[0][1] > votes[1][1]:
                expected[a.annotator].append(a.judgment == votes[0][0])
    for name, hits in expected.items():
        j = table.annotators.index(name)
        compared = loo[:, j] != MISSING
        ours = np.mean(table.codes[compared, j] == loo[compared, j])
        assert ours == pytest.approx(np.mean(hits)), name
    assert len(expected) == 27


def test_summarize_position_bias_per_worker(summarize: list[Annotation]) -> None:
    """No display order is recorded: summary 0 is taken as the left one (the verdict says so)."""
    table = LabelTable.from_annotations(summarize)
    limits = Thresholds()
    loo = leave_one_out_majority(table.codes, 4)
    for j, name in enumerate(table.annotators):
        rows = table.judgments.of(j)
        codes = table.judgments.code[rows]
        found = position_bias(
            codes, table.judgments.left[rows], loo[table.judgments.item[rows], j],
            table.judgments.left_known[rows], limits,
        )  # fmt: skip
        left = sum(1 for a in summarize if a.annotator == name and a.judgment == "a")
        total = sum(1 for a in summarize if a.annotator == name)
        assert found.value == pytest.approx(left / total)
        assert found.p_value == pytest.approx(binomtest(left, total, 0.5).pvalue)
        assert "assumed on the left" in found.verdict


def test_summarize_analysis_runs_on_every_worker(summarize: list[Annotation]) -> None:
    analysis = analyze(LabelTable.from_annotations(summarize), resamples=20)
    assert len(analysis.annotators) == 27
    summary = analysis.summary()
    assert summary["items"] == 905
    assert summary["judgments"] == 1097
    assert 0.0 < summary["krippendorff_alpha"] < 1.0

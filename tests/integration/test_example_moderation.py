"""examples/moderation.py end to end, small: HH harmless pairs labelled by simulated moderators
through the real web app, a MiniLM ensemble classifier retrained on the app's exports.

About a minute and a half on 2 cores, most of it embedding 1,640 replies into a cold cache.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rlhf.store import Store

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SIZES = {"seed-labels": 20, "pool": 400, "held-out": 400, "rounds": 2, "batch": 100}
OVERLAP = 3


def test_moderators_feedback_through_the_app_trains_the_classifier(
    shared_data: Path, tmp_path: Path
) -> None:
    output = tmp_path / "out"
    command = [sys.executable, str(REPO / "examples" / "moderation.py"), str(shared_data)]
    command += [f"--{name}={value}" for name, value in SIZES.items()]
    command += ["--overlap", str(OVERLAP), "--output", str(output)]
    command += ["--cache-dir", str(tmp_path / "cache")]
    environment = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    result = subprocess.run(
        command, capture_output=True, text=True, check=False, timeout=600, env=environment
    )
    assert result.returncode == 0, result.stderr[-4000:]
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary == json.loads((output / "results.json").read_text())
    assert summary["ok"] is True
    assert summary["held_out_pairs"] == SIZES["held-out"]
    assert "held-out accuracy" in result.stdout

    with Store.open(f"sqlite:///{output / 'moderation.db'}") as store:
        for arm, rounds in summary["arms"].items():
            assert [r["round"] for r in rounds] == list(range(SIZES["rounds"] + 1))
            assert rounds[0]["labels"] == SIZES["seed-labels"]
            for number, row in enumerate(rounds[1:], start=1):
                # every item sent was answered by OVERLAP moderators, in the app's own store
                stored = store.export_annotations(campaign=f"{arm}-{number}")
                assert row["sent"] == SIZES["batch"]
                assert row["answers"] == len(stored) == SIZES["batch"] * OVERLAP
                assert len({a.item_id for a in stored}) == SIZES["batch"]
                # each item's consensus is exported and trained on; it mostly matches HH
                exported = (output / f"{arm}-{number}.jsonl").read_text().splitlines()
                assert len(exported) == SIZES["batch"]
                assert row["labels"] == rounds[number - 1]["labels"] + len(exported)
                assert row["labels_agree_with_hh"] >= 0.8
                trained = json.loads(
                    (output / arm / f"round-{number}" / "rlhf_config.json").read_text()
                )
                assert trained["data"].split(",") == [str(output / "seed.jsonl")] + [
                    str(output / f"{arm}-{k}.jsonl") for k in range(1, number + 1)
                ]

    figures = [r["accuracy"] for rows in summary["arms"].values() for r in rows]
    figures += [r["disagreement"] for rows in summary["arms"].values() for r in rows[1:]]
    assert all(math.isfinite(x) for x in figures)
    active, random = summary["arms"]["active"], summary["arms"]["random"]
    # round 1: both arms score the pool with the seed classifier; active sends what it is least
    # sure of (measured over seeds 0-7: 1.56-1.72 times the disagreement of a random draw)
    assert active[1]["disagreement"] > 1.3 * random[1]["disagreement"] > 0
    # Measured over seeds 0-7 with these sizes: the seed classifier 0.53-0.59, after the rounds
    # 0.55-0.64, the mean of the two arms 0.57-0.63, a gain of +0.003 to +0.078 (mean +0.035).
    # One run's gain is not reliably large (docs/moderation.md), so the bounds are: no worse than
    # the seed (labels exported the wrong way round fall far below it) and above chance (0.5;
    # standard error of 400 pairs 0.025).
    final = (active[-1]["accuracy"] + random[-1]["accuracy"]) / 2
    assert active[0]["accuracy"] == random[0]["accuracy"]
    assert final >= active[0]["accuracy"] - 0.01
    assert final >= 0.55

"""`rlhf eval` as a user runs it: two tiny SFT policies on the demo task, judged by a gold file."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from rlhf.demo.task import make_prompts, sample_response
from rlhf.feedback.client import Client, ServerProcess

GOLD = """
from rlhf.demo.task import gold  # the demo task's gold score, given as a file


def length(prompts, responses):
    return [len(response) for response in responses]
"""


def rlhf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rlhf", *args, "--quiet"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("eval")
    rng = random.Random(0)
    demos = [
        {"prompt": p.text, "completion": sample_response(p, rng)} for p in make_prompts(200, seed=0)
    ]
    (root / "demos.jsonl").write_text("".join(json.dumps(d) + "\n" for d in demos))
    held_out = sorted({p.text for p in make_prompts(40, seed=1)})  # distinct, as eval reads them
    (root / "prompts.jsonl").write_text("".join(json.dumps({"prompt": p}) + "\n" for p in held_out))
    (root / "gold.py").write_text(GOLD)
    for name, steps in (("short", "2"), ("long", "20")):
        sft = rlhf(
            "train", "sft", "--data", str(root / "demos.jsonl"), "--output", str(root / name),
            "--model", "tiny", "--tiny.hidden-size", "32", "--optim.lr", "3e-3",
            "--loop.batch-size", "16", "--loop.micro-batch-size", "16", "--loop.max-steps", steps,
            "--loop.eval-every", "0", "--no-loop.keep-best",
        )  # fmt: skip
        assert sft.returncode == 0, sft.stderr
    return {"root": root, "short": root / "short", "long": root / "long", "gold": root / "gold.py"}


def prompts(task: dict[str, Path]) -> int:
    return len((task["root"] / "prompts.jsonl").read_text().splitlines())


def evaluate(
    task: dict[str, Path], policy: str, baseline: str, *extra: str, judge: str = "gold"
) -> dict[str, Any]:
    result = rlhf(
        "eval", "--data", str(task["root"] / "prompts.jsonl"), "--policy", str(task[policy]),
        "--baseline", str(task[baseline]), "--judge.function", f"{task['gold']}:{judge}",
        "--sampling.max-new-tokens", "16", "--seed", "3", "--resamples", "200", "--json", *extra,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    assert "win rate" in result.stderr
    return summary


@pytest.mark.slow
def test_a_policy_against_itself_with_the_same_seed_ties_every_prompt(
    task: dict[str, Path],
) -> None:
    summary = evaluate(task, "long", "long", "--samples-per-prompt", "2")
    n = prompts(task)
    assert summary["win_rate"] == 0.5
    assert (summary["prompts"], summary["comparisons"], summary["ties"]) == (n, 2 * n, 2 * n)
    assert summary["bootstrap_low"] == summary["bootstrap_high"] == 0.5
    low, high = summary["win_rate_ci_low"], summary["win_rate_ci_high"]
    assert low < 0.5 < high  # Wilson keeps its width: it does not know the ties
    assert summary["policy"] == summary["baseline"] | {"model": str(task["long"])}


@pytest.mark.slow
def test_two_policies_give_finite_numbers_and_an_interval_around_the_estimate(
    task: dict[str, Path],
) -> None:
    # barely trained policies tie on the gold score, so length judges here and gold is the proxy
    summary = evaluate(
        task, "long", "short", "--reward.function", f"{task['gold']}:gold",
        "--interval", "bootstrap", judge="length",
    )  # fmt: skip
    print(json.dumps(summary))
    rate, low, high = summary["win_rate"], summary["win_rate_ci_low"], summary["win_rate_ci_high"]
    assert low <= rate <= high
    assert (summary["wilson_low"], summary["wilson_high"]) != (low, high)
    assert summary["prompts"] == prompts(task)
    for side in ("policy", "baseline"):
        numbers = summary[side]
        for key in ("judge_mean", "length_mean", "distinct_1", "distinct_2", "reward_mean"):
            assert math.isfinite(numbers[key]), (side, key)
    assert summary["wins"] + summary["losses"] == summary["decisive"] > 0
    assert 0.0 <= summary["rm_judge_agreement"] <= 1.0
    assert low < high


@pytest.mark.slow
def test_best_of_n_by_the_judge_itself_beats_single_samples(task: dict[str, Path]) -> None:
    # barely trained policies tie on the gold score: length is both the judge and the picker
    length = f"{task['gold']}:length"
    summary = evaluate(
        task, "long", "long", "--best-of", "4", "--reward.function", length, judge="length"
    )
    assert summary["policy"]["model"] == f"best-of-4({task['long']})"
    assert summary["policy"]["judge_mean"] > summary["baseline"]["judge_mean"]
    assert summary["wins"] > summary["losses"]
    assert summary["rm_judge_agreement"] == 1.0  # the reward is the judge


def test_best_of_n_without_a_reward_model_says_what_to_give() -> None:
    result = rlhf("eval", "--data", "p.jsonl", "--policy", "a", "--baseline", "b",
                  "--judge.function", "g.py:gold", "--best-of", "4")  # fmt: skip
    assert result.returncode == 2
    assert "--best-of needs a reward model" in result.stderr


def test_eval_without_a_judge_says_how_to_give_one(tmp_path: Path) -> None:
    result = rlhf("eval", "--data", "p.jsonl", "--policy", "a", "--baseline", "b")
    assert result.returncode != 0
    assert "--judge.function" in result.stderr


@pytest.mark.slow
def test_eval_with_a_missing_judge_file_names_it(tmp_path: Path) -> None:
    missing = rlhf(
        "eval", "--data", str(tmp_path / "none.jsonl"), "--policy", str(tmp_path / "a"),
        "--baseline", str(tmp_path / "b"), "--judge.function", str(tmp_path / "g.py") + ":gold",
    )  # fmt: skip
    assert missing.returncode == 1
    assert "g.py" in missing.stderr


ADMIN = "eval-people-test-admin-token-0123456789"


@pytest.mark.slow
def test_people_judge_through_the_web_app(task: dict[str, Path], tmp_path: Path) -> None:
    """`rlhf eval --people.campaign` makes a campaign; two people answer in the real server,
    each preferring the longer response; `rlhf eval-people` reads the win rate back."""
    db = tmp_path / "feedback.db"
    sent = rlhf(
        "eval", "--data", str(task["root"] / "prompts.jsonl"), "--policy", str(task["long"]),
        "--baseline", str(task["short"]), "--people.campaign", "long-vs-short",
        "--people.db", str(db), "--people.annotators", "ann,bob", "--people.overlap", "2",
        "--sampling.max-new-tokens", "16", "--seed", "3", "--json",
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    created = json.loads(sent.stdout.strip().splitlines()[-1])
    assert created["answers_needed"] == 2 * created["items"] > 0

    policy_won: dict[str, list[float]] = {}
    with ServerProcess(f"sqlite:///{db}", admin_token=ADMIN, cwd=tmp_path) as server:
        admin = Client(server.url, ADMIN)
        for name in ("ann", "bob"):
            person = Client(server.url, admin.call("POST", "/api/annotators", {"name": name}).json["token"])  # fmt: skip
            while item := person.call("POST", "/api/campaigns/long-vs-short/next").json["item"]:
                shown = [r["text"] for r in item["responses"]]  # plain text here
                judgment = "tie" if len(shown[0]) == len(shown[1]) else "ab"[len(shown[1]) > len(shown[0])]  # fmt: skip
                body = {"submission_id": uuid.uuid4().hex, "judgment": judgment}
                reply = person.call("POST", f"/api/assignments/{item['assignment']}/answer", body)
                assert reply.status == 200, reply.text
        exported = admin.call("GET", "/api/campaigns/long-vs-short/export?records=annotations")
    for line in exported.text.splitlines():
        record = json.loads(line)  # `a` is always the policy's response in the stored order
        outcome = {"a": 1.0, "b": 0.0, "tie": 0.5}[record["judgment"]]
        policy_won.setdefault(record["item_id"], []).append(outcome)
    expected = sum(sum(v) / len(v) for v in policy_won.values()) / len(policy_won)

    result = rlhf("eval-people", "--campaign", "long-vs-short", "--db", str(db), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["answers"] == summary["answers_needed"] == created["answers_needed"]
    assert summary["win_rate"] == pytest.approx(expected, abs=1e-6)
    assert summary["win_rate_ci_low"] <= summary["win_rate"] <= summary["win_rate_ci_high"]
    missing = rlhf("eval-people", "--campaign", "nope", "--db", str(db))
    assert missing.returncode == 1
    assert "nope" in missing.stderr

"""Cost models (Safe RLHF): trained from safety pairs, scored raw (c > 0 unsafe), bad input refused.

The synthetic task: unsafe responses contain harmful words; a pair is (safe, unsafe), or two unsafe
responses where the safer one has fewer harmful words, so the sign terms must put every unsafe
response above 0, not only order the pairs.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from rlhf.data import InvalidDataError, PreferencePair, Ranking, write_records
from rlhf.models.reward_loader import load_reward_model
from rlhf.models.reward_scoring import RewardCard
from rlhf.train import LoopConfig, OptimizerConfig
from rlhf.train.config import config_to_json
from rlhf.train.reward import RewardTrainConfig, train_reward
from rlhf.train.reward_objective import RewardLossConfig

TOPICS = ["cooking dinner", "fixing a bike", "writing a poem", "planting tomatoes", "baking bread"]
SAFE = [
    "Sure, start with {t} step by step and ask a friend when stuck.",
    "A good first step for {t} is a short guide and some patience.",
    "Here is a calm plan for {t} that keeps everyone comfortable.",
]
HARM = ["poison", "weapon", "steal", "bomb", "attack"]


def unsafe(rng: random.Random, topic: str, words: int) -> str:
    harm = " and ".join(rng.sample(HARM, words))
    return f"Forget {topic}; I will explain how to {harm} the people nearby."


def safety_pairs(n: int, seed: int) -> list[PreferencePair]:
    rng = random.Random(seed)
    pairs = []
    for i in range(n):
        topic = rng.choice(TOPICS)
        prompt = f"How do I get better at {topic}? (#{i})"
        if i % 3:
            chosen, rejected = rng.choice(SAFE).format(t=topic), unsafe(rng, topic, 1)
            labels = {"chosen_safe": True, "rejected_safe": False}
        else:  # both unsafe: the one with fewer harmful words is the safer one
            chosen, rejected = unsafe(rng, topic, 1), unsafe(rng, topic, 3)
            labels = {"chosen_safe": False, "rejected_safe": False}
        pairs.append(
            PreferencePair(prompt=prompt, chosen=chosen, rejected=rejected, metadata=labels)
        )
    return pairs


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def safety_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "safety.jsonl"
    write_records(safety_pairs(150, seed=0), path)
    return path


def config(data: Path, output: Path, **changes: object) -> RewardTrainConfig:
    base = RewardTrainConfig(
        data=str(data),
        output=output,
        objective="cost",
        cache_dir=output.parent / "cache",
        max_length=48,
        eval_fraction=0.2,
        optim=OptimizerConfig(lr=2e-3, schedule="constant"),
        loop=LoopConfig(max_steps=40, batch_size=8, micro_batch_size=8, eval_every=20),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def run(cfg: RewardTrainConfig) -> dict[str, object]:
    return train_reward(cfg, say=lambda line: None, resolved=config_to_json(cfg))


@pytest.mark.parametrize("kind", ["transformer", "embedding", "features"])
def test_cost_model_learns_order_and_sign(kind: str, safety_file: Path, tmp_path: Path) -> None:
    output = tmp_path / kind
    summary = run(config(safety_file, output, kind=kind))
    report = summary["eval"]
    assert isinstance(report, dict)
    assert report["accuracy"] >= 0.9
    assert report["sign_accuracy"] >= 0.9
    assert RewardCard.read(output).objective == "cost"

    model = load_reward_model(output)  # what `rlhf train ppo --cost.model DIR` loads
    assert model.objective == "cost"
    assert model.normalization.is_identity
    fresh = safety_pairs(30, seed=1)  # prompts the model never saw
    prompts = [p.prompt for p in fresh]
    safe = [p.chosen for p in fresh if p.metadata["chosen_safe"]]
    costs_safe = model.score([p.prompt for p in fresh if p.metadata["chosen_safe"]], safe)
    costs_unsafe = model.score(prompts, [p.rejected for p in fresh])
    assert (costs_safe < 0).float().mean().item() >= 0.9
    assert (costs_unsafe > 0).float().mean().item() >= 0.9
    # score() of a cost model is raw: nothing centers it
    torch.testing.assert_close(
        costs_unsafe, model.score(prompts, [p.rejected for p in fresh], normalize=False)
    )


def write_rows(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_bad_safety_data_is_refused_before_training(tmp_path: Path) -> None:
    good = {"prompt": "p", "chosen": "a", "rejected": "b"}
    labels = {"chosen_safe": True, "rejected_safe": False}
    rows: list[dict[str, object]] = [
        {**good, "metadata": labels},
        {**good, "metadata": {"chosen_safe": True}},  # a label missing
        {**good},  # no labels at all
        {**good, "metadata": {"chosen_safe": False, "rejected_safe": True}},  # chosen not safer
        {**good, "tie": True, "metadata": labels},
    ]
    path = write_rows(tmp_path / "bad.jsonl", rows)
    with pytest.raises(InvalidDataError) as caught:
        run(config(path, tmp_path / "out", kind="features"))
    lines = [str(p) for p in caught.value.problems]
    assert [line.split(": ")[0:2] for line in lines] == [
        [f"{path}:2", "metadata.rejected_safe"],
        [f"{path}:3", "metadata.chosen_safe"],
        [f"{path}:3", "metadata.rejected_safe"],
        [f"{path}:4", "metadata.chosen_safe"],
        [f"{path}:5", "tie"],
    ]
    assert not (tmp_path / "out").exists()

    wrong_type = write_rows(tmp_path / "types.jsonl", [{**good, "metadata": {"chosen_safe": 1}}])
    with pytest.raises(InvalidDataError, match=r"types.jsonl:1: metadata.chosen_safe: expected"):
        run(config(wrong_type, tmp_path / "out", kind="features"))

    rankings = tmp_path / "rankings.jsonl"
    write_records([Ranking(prompt="p", responses=("a", "b"), ranks=(1, 2))], rankings)
    with pytest.raises(InvalidDataError, match="not ranking records"):
        run(config(rankings, tmp_path / "out", kind="features"))


def test_loss_settings_the_cost_loss_lacks_are_refused(safety_file: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"--loss\.margin"):
        config(safety_file, tmp_path, loss=RewardLossConfig(margin=1.0))

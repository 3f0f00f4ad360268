"""Learning Davidson's tie parameter nu with a reward model, by maximum likelihood.

Synthetic comparisons are drawn from the Davidson model itself: each response is a feature vector
x, its reward w . x for a known w, and each pair is a win, a tie or a loss with the Davidson
probabilities for a known nu. Fitting then has to give nu back, within its sampling error: the
standard error of log nu is read from the observed information (the Hessian of the negative
log-likelihood in (w, log nu) at the fit), so the tolerance follows from the sample size instead of
being picked to pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from rlhf.data import PreferencePair, write_records
from rlhf.demo.task import gold_pairs, make_prompts
from rlhf.models.feature_reward import FeatureRewardModel
from rlhf.models.reward_loader import load_reward_model
from rlhf.models.reward_scoring import Normalization
from rlhf.models.vector_reward import RewardHeads
from rlhf.ops.reward_losses import Metrics, davidson_loss
from rlhf.train import LoopConfig, OptimizerConfig, fit
from rlhf.train.config import config_to_json
from rlhf.train.metrics import read_metrics
from rlhf.train.reward import RewardTrainConfig, train_reward
from rlhf.train.reward_heads import fit_heads
from rlhf.train.reward_objective import (
    RewardBatch,
    RewardLossConfig,
    RewardObjective,
    WithTieParameter,
)

TRUE_W = (1.0, -0.5, 0.8)
PAIRS = 4000

Example = tuple[torch.Tensor, torch.Tensor, bool]
"""(features of the better response, of the worse one, tie)."""


def davidson_pairs(nu: float, *, pairs: int = PAIRS, seed: int = 0) -> list[Example]:
    """`pairs` comparisons of fresh responses drawn from the Davidson model with rewards w . x."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(pairs, 2, len(TRUE_W), generator=generator)  # (P, 2, D)
    d = (x[:, 0] - x[:, 1]) @ torch.tensor(TRUE_W)  # (P,)
    weights = torch.stack([(d / 2).exp(), torch.full_like(d, nu), (-d / 2).exp()], dim=-1)
    outcome = torch.multinomial(weights, 1, generator=generator)[:, 0]  # 0 a wins, 1 tie, 2 b wins
    examples = []
    for (a, b), o in zip(x, outcome.tolist(), strict=True):
        examples.append((b, a, False) if o == 2 else (a, b, o == 1))
    return examples


def collate(examples: Sequence[Example]) -> RewardBatch:
    """Responses 2i (better) and 2i + 1 (worse) of each pair, as `RewardBatch` features."""
    count = len(examples)
    return RewardBatch(
        inputs={"features": torch.stack([x for a, b, _ in examples for x in (a, b)])},
        better=torch.arange(0, 2 * count, 2),
        worse=torch.arange(1, 2 * count, 2),
        tie=torch.tensor([t for _, _, t in examples]),
        margin=torch.zeros(count),
        orders=torch.zeros((0, 0), dtype=torch.long),
        order_mask=torch.zeros((0, 0), dtype=torch.bool),
    )


def feature_model(heads: int = 1) -> FeatureRewardModel:
    dim = len(TRUE_W)
    return FeatureRewardModel(
        RewardHeads(dim, heads=heads, seed=0),
        names=[f"x{i}" for i in range(dim)],
        mean=[0.0] * dim,
        std=[1.0] * dim,
    )


def standard_errors(examples: list[Example], w: torch.Tensor, log_nu: float) -> torch.Tensor:
    """Standard errors of (w, log nu): sqrt diag H^-1, H the Hessian of the summed negative
    log-likelihood at (w, log nu) (the observed information)."""
    batch = collate(examples)
    features = batch.inputs["features"].double()
    chosen_x, rejected_x = features[batch.better], features[batch.worse]

    def nll(theta: torch.Tensor) -> torch.Tensor:
        weight, log_nu_t = theta[:-1], theta[-1]
        loss, _ = davidson_loss(
            chosen_x @ weight, rejected_x @ weight, batch.tie, log_nu=log_nu_t, reduction="sum"
        )
        return loss

    theta = torch.cat([w.double(), torch.tensor([log_nu], dtype=torch.float64)])
    hessian = torch.autograd.functional.hessian(nll, theta)  # type: ignore[no-untyped-call]
    inverse: torch.Tensor = torch.linalg.inv(hessian)
    return inverse.diagonal().sqrt()


@pytest.mark.parametrize("true_nu", [0.6, 2.0])
def test_full_batch_fit_recovers_nu_within_its_standard_error(true_nu: float) -> None:
    examples = davidson_pairs(true_nu)
    model = feature_model()
    fitted = fit_heads(model, collate(examples), RewardLossConfig(), use_ties=True, l2=0.0)
    assert fitted.tie_nu is not None
    (nu,) = fitted.tie_nu
    w = model.heads_module.w1.detach()[0, :, 0]
    errors = standard_errors(examples, w, math.log(nu))
    # 4000 pairs: the standard error of log nu is 0.044 at nu = 0.6 (18% ties) and 0.037 at
    # nu = 2.0 (42% ties), i.e. nu to about +-4%; 4 standard errors bound the error of a correct
    # fit with probability 0.9999 (measured on this seed: nu 0.595 and 2.014, z = -0.2 and 0.2)
    assert errors[-1] < 0.05
    assert abs(math.log(nu) - math.log(true_nu)) < 4 * errors[-1], (nu, true_nu, errors)
    assert ((w - torch.tensor(TRUE_W)).abs() < 4 * errors[:-1].float()).all(), (w, errors)
    assert fitted.metrics["reward/tie_nu"] == pytest.approx(nu)


def test_each_head_of_an_ensemble_fits_its_own_nu() -> None:
    examples = davidson_pairs(2.0, pairs=1000)
    weights = torch.poisson(
        torch.ones(len(examples), 3), generator=torch.Generator().manual_seed(1)
    )
    batch = collate(examples)
    batch = RewardBatch(**{**batch.__dict__, "pair_weights": weights})
    fitted = fit_heads(feature_model(heads=3), batch, RewardLossConfig(), use_ties=True, l2=0.0)
    assert fitted.tie_nu is not None
    assert len(set(fitted.tie_nu)) == 3
    for k, nu in enumerate(fitted.tie_nu):  # each is the MLE of its own resample
        alone = RewardBatch(**{**batch.__dict__, "pair_weights": weights[:, k : k + 1]})
        single = fit_heads(feature_model(), alone, RewardLossConfig(), use_ties=True, l2=0.0)
        assert single.tie_nu is not None
        assert nu == pytest.approx(single.tie_nu[0], rel=1e-3)


def test_a_fixed_nu_stays_exactly_where_it_was_set() -> None:
    loss = RewardLossConfig(learn_tie_nu=False, tie_nu=0.7)
    fitted = fit_heads(feature_model(2), collate(davidson_pairs(2.0)), loss, use_ties=True, l2=0)
    assert fitted.tie_nu == (0.7, 0.7)


def test_without_ties_learning_nu_changes_nothing() -> None:
    examples = [(a, b, False) for a, b, _ in davidson_pairs(0.6, pairs=500)]
    fits = {}
    for learn in (True, False):
        model = feature_model()
        loss = RewardLossConfig(learn_tie_nu=learn)
        # `check_loss_for_data` gives use_ties=False for data without ties
        fit = fit_heads(model, collate(examples), loss, use_ties=False, l2=1e-3)
        assert fit.tie_nu is None
        assert "reward/tie_nu" not in fit.metrics
        fits[learn] = (fit, model.heads_module.w1.detach().clone())
    assert fits[True][0] == fits[False][0]
    assert torch.equal(fits[True][1], fits[False][1])


class LinearReward(nn.Module):
    """r = w . x: the transformer kind's place in the loop, on features."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(len(TRUE_W), 1, bias=False)
        nn.init.zeros_(self.linear.weight)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(features)  # type: ignore[no-any-return]


class Killed(Exception):
    """Raised by `Crashing`, as a kill would stop the run."""


@dataclass
class Crashing:
    """The reward objective, stopping the run at its `at`-th micro-batch."""

    objective: RewardObjective
    at: int
    calls: int = 0

    def units(self, batch: RewardBatch) -> int:
        return self.objective.units(batch)

    def loss(self, model: nn.Module, batch: RewardBatch) -> tuple[torch.Tensor, Metrics]:
        self.calls += 1
        if self.calls == self.at:
            raise Killed
        return self.objective.loss(model, batch)


def train_in_loop(
    examples: list[Example],
    output: Path,
    loss: RewardLossConfig,
    *,
    crash_at: int | None = None,
    **loop: object,
) -> tuple[nn.Module, nn.Module]:
    """As `--kind transformer` trains: the loop, AdamW, the tie parameter beside the model."""
    model = LinearReward()
    trained: nn.Module = model
    if loss.learn_tie_nu:
        trained = WithTieParameter(model, nu=loss.tie_nu, lr=loss.tie_nu_lr)
    log_nu = trained.log_nu if isinstance(trained, WithTieParameter) else None
    settings: dict[str, object] = {"batch_size": 200, "micro_batch_size": 100, "epochs": 10}
    objective = RewardObjective(loss, use_ties=True, log_nu=log_nu)
    fit(
        trained,
        objective if crash_at is None else Crashing(objective, crash_at),
        examples,
        collate,
        loop=LoopConfig(**{**settings, "eval_every": 0, "keep_best": False, **loop}),  # type: ignore[arg-type]
        optim=OptimizerConfig(lr=0.05),
        output=output,
        export=lambda module, directory: directory.mkdir(parents=True, exist_ok=True),
    )
    return model, trained


def test_the_training_loop_reaches_the_maximum_likelihood_nu(tmp_path: Path) -> None:
    examples = davidson_pairs(0.6)
    mle = fit_heads(feature_model(), collate(examples), RewardLossConfig(), use_ties=True, l2=0.0)
    assert mle.tie_nu is not None
    loss = RewardLossConfig(tie_nu_lr=0.05)
    _, trained = train_in_loop(examples, tmp_path / "run", loss)
    assert isinstance(trained, WithTieParameter)
    (nu,) = trained.nu
    # 200 AdamW steps, cosine to 0: within 0.03 of the full-batch optimum in log nu (measured:
    # 0.004, nu 0.597 against 0.595), well inside the sampling error of log nu (0.044)
    assert abs(math.log(nu) - math.log(mle.tie_nu[0])) < 0.03, (nu, mle.tie_nu)
    rows = read_metrics(tmp_path / "run")
    assert rows[0]["train/reward/tie_nu"] == pytest.approx(1.0)  # the starting value
    assert rows[-1]["train/reward/tie_nu"] == pytest.approx(nu, rel=1e-3)
    groups = torch.load(tmp_path / "run" / "checkpoint" / "optimizer.pt")["param_groups"]
    assert [g.get("peak_lr") for g in groups] == [None, 0.05]  # the weight; log nu at its own


def test_a_fixed_nu_in_the_loop_adds_no_parameter(tmp_path: Path) -> None:
    loss = RewardLossConfig(learn_tie_nu=False, tie_nu=0.7)
    train_in_loop(davidson_pairs(0.6, pairs=400), tmp_path / "run", loss, epochs=1)
    state = torch.load(tmp_path / "run" / "checkpoint" / "model.pt")
    assert list(state) == ["linear.weight"]
    groups = torch.load(tmp_path / "run" / "checkpoint" / "optimizer.pt")["param_groups"]
    assert [len(g["params"]) for g in groups] == [1]
    logged = [r["train/reward/tie_nu"] for r in read_metrics(tmp_path / "run")]
    assert logged == pytest.approx([0.7] * len(logged), rel=1e-7)  # float32


def test_resume_restores_nu_and_its_optimizer_state(tmp_path: Path) -> None:
    examples = davidson_pairs(2.0, pairs=800)
    loss = RewardLossConfig()
    whole = train_in_loop(examples, tmp_path / "whole", loss, epochs=2, save_every=3)[1]
    with pytest.raises(Killed):  # 2 micro-batches a step: killed in step 5, saved after 3
        train_in_loop(examples, tmp_path / "parts", loss, epochs=2, save_every=3, crash_at=10)
    parts = train_in_loop(examples, tmp_path / "parts", loss, epochs=2, save_every=3)[1]
    assert isinstance(whole, WithTieParameter)
    assert isinstance(parts, WithTieParameter)
    assert torch.equal(whole.log_nu, parts.log_nu)
    states = [
        torch.load(tmp_path / run / "checkpoint" / "optimizer.pt")["state"]
        for run in ("whole", "parts")
    ]
    for index in states[0]:
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(states[0][index][key], states[1][index][key])


def test_the_card_keeps_nu_per_head_through_save_and_load(tmp_path: Path) -> None:
    from rlhf.models.ensemble import RewardEnsemble

    model = feature_model(heads=2)
    model.normalization = Normalization.identity(2)
    model.tie_nu = (0.613, 1.97)
    model.save_pretrained(tmp_path / "m")
    loaded = load_reward_model(tmp_path / "m")
    assert loaded.tie_nu == (0.613, 1.97)
    plain = feature_model()
    plain.save_pretrained(tmp_path / "plain")
    assert load_reward_model(tmp_path / "plain").tie_nu is None
    assert "tie_nu" not in (tmp_path / "plain" / "reward_model.json").read_text()
    members = []
    for k, nu in enumerate((0.5, 0.8)):
        member = feature_model()
        member.tie_nu = (nu,)
        member.save_pretrained(tmp_path / "ens" / f"member-{k}")
        members.append(member)
    RewardEnsemble(members).save_card(tmp_path / "ens")
    assert load_reward_model(tmp_path / "ens").tie_nu == (0.5, 0.8)
    assert RewardEnsemble([members[0], plain]).tie_nu is None


def tiny_run(output: Path, pairs: list[PreferencePair], **loss: object) -> dict[str, object]:
    """`rlhf train reward --backbone tiny` for 6 steps on `pairs`; its summary."""
    data = output.parent / f"{output.name}.jsonl"
    write_records(pairs, data)
    cfg = RewardTrainConfig(
        data=str(data),
        output=output,
        cache_dir=output.parent / "cache",
        max_length=48,
        eval_fraction=0.0,
        loss=RewardLossConfig(**loss),  # type: ignore[arg-type]
        optim=OptimizerConfig(lr=2e-3),
        loop=LoopConfig(max_steps=6, batch_size=8, micro_batch_size=4, keep_best=False),
    )
    return train_reward(cfg, say=lambda line: None, resolved=config_to_json(cfg))


@pytest.fixture(scope="module")
def gold() -> list[PreferencePair]:
    pairs = gold_pairs(make_prompts(60, seed=0), seed=0)
    assert 0 < sum(p.tie for p in pairs) < len(pairs)
    return pairs


def test_a_transformer_learns_nu_and_its_card_keeps_it(
    gold: list[PreferencePair], tmp_path: Path
) -> None:
    summary = tiny_run(tmp_path / "learned", gold)
    state = torch.load(tmp_path / "learned" / "checkpoint" / "model.pt")
    nu = float(state["log_nu"].exp())
    assert summary["tie_nu"] == [nu]
    assert nu != 1.0
    assert load_reward_model(tmp_path / "learned").tie_nu == (nu,)
    assert read_metrics(tmp_path / "learned")[0]["train/reward/tie_nu"] == 1.0
    fixed = tiny_run(tmp_path / "fixed", gold, learn_tie_nu=False, tie_nu=0.7)
    assert fixed["tie_nu"] == [0.7]
    assert load_reward_model(tmp_path / "fixed").tie_nu == (0.7,)
    assert "log_nu" not in torch.load(tmp_path / "fixed" / "checkpoint" / "model.pt")


def test_without_ties_a_transformer_trains_exactly_as_before(
    gold: list[PreferencePair], tmp_path: Path
) -> None:
    decisive = [p for p in gold if not p.tie]
    for learn in (True, False):
        summary = tiny_run(tmp_path / str(learn), decisive, learn_tie_nu=learn)
        assert "tie_nu" not in summary
    states = [torch.load(tmp_path / run / "checkpoint" / "model.pt") for run in ("True", "False")]
    assert list(states[0]) == list(states[1])
    assert all(torch.equal(states[0][name], states[1][name]) for name in states[0])
    groups = torch.load(tmp_path / "True" / "checkpoint" / "optimizer.pt")["param_groups"]
    assert len(groups) == 2
    assert "peak_lr" not in groups[1]
    assert load_reward_model(tmp_path / "True").tie_nu is None

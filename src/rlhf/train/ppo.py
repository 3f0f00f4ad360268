"""PPO with a value head and a KL leash to the reference (Ziegler et al. 2019, Ouyang et al. 2022),
and its safe variant with a cost model and a Lagrange multiplier (Dai et al. 2023).

A step is the online loop's phases (`rlhf.train.online`); what PPO adds is its critic and its
advantages: per-token rewards -beta k_t plus the score on the last token
(`rlhf.ops.shaping.token_rewards`), generalized advantage estimation against the critic's values
(gamma 1, lambda 0.95: `rlhf.ops.advantages` says why), advantages whitened over the step's tokens,
and a value loss on the GAE returns.

Safe RLHF (`--cost.model DIR --cost-limit d`): the critic gets a second output that values the cost
model's score, cost advantages come from the same GAE, and the policy follows
(A_r - lambda A_c) / (1 + lambda) with lambda a Lagrange multiplier that rises while the mean
episode cost exceeds d (`rlhf.ops.lagrange`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from torch import Tensor

from rlhf.fields import nested
from rlhf.models.value import ActorOutput
from rlhf.ops.advantages import gae
from rlhf.ops.kl import kl_penalty
from rlhf.ops.lagrange import LagrangeMultiplier
from rlhf.ops.masked import masked_sum, masked_whiten
from rlhf.ops.policy_losses import explained_variance, ppo_value_loss
from rlhf.ops.shaping import token_rewards
from rlhf.rewards.sources import RewardConfig, Scorer, build_scorer
from rlhf.train.config import ConfigError
from rlhf.train.distributed import Distributed
from rlhf.train.experience import Experience
from rlhf.train.loop import TrainResult
from rlhf.train.online import train_online
from rlhf.train.online_config import OnlineConfig

__all__ = ["PPO", "PPOConfig", "train_ppo"]


@dataclass(frozen=True, kw_only=True)
class PPOConfig(OnlineConfig):
    """`rlhf train ppo`: proximal policy optimization with a critic against a reward source."""

    critic: Literal["shared", "separate"] = "separate"
    """The value function: its own transformer (`separate`, the usual choice; twice the memory)
    or a head on the policy's trunk (`shared`)."""
    critic_model: str | None = None
    """The separate critic's starting backbone (e.g. the reward model's); the policy's if unset."""
    ppo_epochs: int = 4
    """Passes of updates over each step's responses."""
    mini_batches: int = 2
    """Optimizer updates per pass: the step's responses are split into this many minibatches."""
    gamma: float = 1.0
    """Discount per token."""
    gae_lambda: float = 0.95
    """GAE's lambda: 1 is the Monte-Carlo return (unbiased, noisy), lower leans on the critic."""
    vf_coef: float = 0.1
    """Weight of the value loss."""
    value_clip_eps: float | None = None
    """Clip the value around its rollout value (lm-human-preferences used 0.2); off if unset."""
    whiten_advantages: bool = True
    """Whiten advantages over the step's response tokens."""
    cost: RewardConfig = nested(RewardConfig, aliases={"model": "--cost-model"})
    """Safe RLHF: where costs come from (a cost model, a function or an HTTP scorer); off if unset.
    `--cost-model DIR` is `--cost.model DIR`."""
    cost_limit: float = 0.0
    """Safe RLHF: the limit d on the mean episode cost."""
    lambda_init: float = 1.0
    """Safe RLHF: the Lagrange multiplier's starting value."""
    lambda_lr: float = 0.1
    """Safe RLHF: the multiplier's step size on log scale."""
    lambda_max: float | None = None
    """Safe RLHF: an upper bound on the multiplier; none if unset."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (0 <= self.gamma <= 1 and 0 <= self.gae_lambda <= 1):
            raise ConfigError("gamma and gae_lambda must lie in [0, 1]")
        if self.vf_coef < 0:
            raise ConfigError(f"vf_coef must be >= 0, got {self.vf_coef}")

    @property
    def safe(self) -> bool:
        return self.cost.given


class PPO:
    """PPO's parts of the online loop: critic, GAE advantages, value loss, Lagrange multiplier."""

    group_size = 1

    def __init__(self, config: PPOConfig) -> None:
        self.config = config
        self.critic = config.critic
        self.critic_model = config.critic_model
        self.cost_critic = config.safe
        self.multiplier = (
            LagrangeMultiplier(
                cost_limit=config.cost_limit,
                init=config.lambda_init,
                lr=config.lambda_lr,
                max_value=config.lambda_max,
            )
            if config.safe
            else None
        )

    def cost_scorer(self) -> Scorer | None:
        return build_scorer(self.config.cost, what="cost") if self.config.safe else None

    def estimate(
        self, experience: Experience, *, kl_coef: float, dist: Distributed
    ) -> tuple[Experience, dict[str, float]]:
        config, mask = self.config, experience.mask
        assert experience.old_values is not None, "PPO needs the critic's values"
        kl = None
        if config.kl.placement == "reward":
            kl = kl_penalty(experience.old_logprobs, experience.ref_logprobs, config.kl.estimator)
        rewards = token_rewards(experience.scores, kl, mask, kl_coef=kl_coef)  # (B, T)
        advantages, returns = gae(
            rewards, experience.old_values, mask, gamma=config.gamma, lam=config.gae_lambda
        )
        metrics = {
            "value/explained_variance": float(
                explained_variance(experience.old_values, returns, mask)
            )
        }
        cost_returns = None
        if self.multiplier is not None:
            assert experience.costs is not None
            assert experience.old_cost_values is not None
            cost_rewards = token_rewards(experience.costs, None, mask, kl_coef=0.0)
            cost_advantages, cost_returns = gae(
                cost_rewards,
                experience.old_cost_values,
                mask,
                gamma=config.gamma,
                lam=config.gae_lambda,
            )
            lam = self.multiplier.value
            advantages = (advantages - lam * cost_advantages) / (1 + lam)
        if config.whiten_advantages:
            advantages = masked_whiten(advantages, mask)
        filled = replace(
            experience,
            advantages=advantages.detach(),
            returns=returns.detach(),
            cost_returns=None if cost_returns is None else cost_returns.detach(),
        )
        return filled, metrics

    def critic_loss(self, output: ActorOutput, batch: Experience) -> Tensor | None:
        """vf_coef * the value loss (and the cost value loss), summed over response tokens."""
        assert output.values is not None
        assert batch.returns is not None
        assert batch.old_values is not None
        clip = self.config.value_clip_eps
        loss = masked_sum(
            ppo_value_loss(output.values, batch.old_values, batch.returns, clip_eps=clip),
            batch.mask,
        )
        if output.cost_values is not None:
            assert batch.cost_returns is not None
            assert batch.old_cost_values is not None
            loss = loss + masked_sum(
                ppo_value_loss(
                    output.cost_values, batch.old_cost_values, batch.cost_returns, clip_eps=clip
                ),
                batch.mask,
            )
        return self.config.vf_coef * loss

    def after_step(self, experience: Experience, dist: Distributed) -> dict[str, float]:
        """Safe RLHF: move the Lagrange multiplier against the step's mean episode cost."""
        if self.multiplier is None:
            return {}
        assert experience.costs is not None
        totals = dist.sum(experience.costs.new_tensor([experience.costs.sum(), len(experience)]))
        mean_cost = float(totals[0] / totals[1])
        lam = self.multiplier.value
        self.multiplier.update(mean_cost)
        return {"safety/cost": mean_cost, "safety/lambda": lam}

    def state_dict(self) -> dict[str, float]:
        if self.multiplier is None:
            return {}
        return {f"lagrange.{k}": v for k, v in self.multiplier.state_dict().items()}

    def load_state_dict(self, state: Mapping[str, float]) -> None:
        if self.multiplier is not None:
            prefix = "lagrange."
            mine = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            if mine:
                self.multiplier.load_state_dict(mine)


def train_ppo(config: PPOConfig, resolved: dict[str, Any]) -> TrainResult:
    """Run PPO (safe PPO with a cost source) as configured; `resolved` is the config as JSON."""
    return train_online(config, PPO(config), resolved)

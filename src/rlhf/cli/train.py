"""`rlhf train ...`: the training algorithms, each a typed config and one library call."""

from __future__ import annotations

from rlhf.cli.base import Command, Output, Summary
from rlhf.train.config import config_to_json
from rlhf.train.dpo import DPOConfig, train_dpo
from rlhf.train.grpo import GRPOConfig, RLOOConfig, train_grpo, train_rloo
from rlhf.train.loop import TrainResult
from rlhf.train.ppo import PPOConfig, train_ppo
from rlhf.train.sft import SFTConfig, train_sft


def _summary(result: TrainResult) -> Summary:
    return {
        "output": str(result.output),
        "steps": result.steps,
        "best": result.best,
        "best_step": result.best_step,
        **{f"eval/{k}": v for k, v in result.final_eval.items()},
        "seconds": round(result.seconds, 2),
    }


def _report(result: TrainResult, out: Output) -> Summary:
    summary = _summary(result)
    evaluation = ", ".join(f"{k} {v:.4g}" for k, v in result.final_eval.items())
    out.line(f"trained {result.steps} steps in {result.seconds:.1f} s; model in {result.output}")
    if evaluation:
        out.line(f"held-out: {evaluation}")
    return summary


def sft(config: SFTConfig, out: Output) -> Summary:
    return _report(train_sft(config, config_to_json(config)), out)


def dpo(config: DPOConfig, out: Output) -> Summary:
    return _report(train_dpo(config, config_to_json(config)), out)


def ppo(config: PPOConfig, out: Output) -> Summary:
    return _report(train_ppo(config, config_to_json(config)), out)


def grpo(config: GRPOConfig, out: Output) -> Summary:
    return _report(train_grpo(config, config_to_json(config)), out)


def rloo(config: RLOOConfig, out: Output) -> Summary:
    return _report(train_rloo(config, config_to_json(config)), out)


COMMANDS = (
    Command(
        "train sft",
        "supervised fine-tuning on demonstrations (completion-only loss)",
        SFTConfig,
        sft,
    ),
    Command(
        "train dpo", "direct preference optimization and its variants on pairs", DPOConfig, dpo
    ),
    Command(
        "train ppo",
        "PPO with a critic and a KL leash against a reward source (safe PPO with --cost.*)",
        PPOConfig,
        ppo,
    ),
    Command("train grpo", "GRPO: group-normalized advantages, no critic", GRPOConfig, grpo),
    Command("train rloo", "RLOO: leave-one-out baseline, no critic", RLOOConfig, rloo),
)

"""The online RLHF loop that PPO, GRPO and RLOO share: generate, score, estimate, update.

One step of every online algorithm reads as the same named phases, each timed (`timing/*`):

    generate     sample responses to this step's prompts (`rlhf.rollout`)
    score        the reward (and cost) source scores each whole response
    reference    log-probs of the responses under the frozen reference (and the critic's values)
    advantages   the algorithm's estimate: GAE with a critic (PPO), group baselines (GRPO, RLOO)
    update       `ppo_epochs` passes of minibatch updates with the clipped surrogate
    log          metrics to metrics.jsonl, a checkpoint every `loop.save_every` steps

An algorithm (`OnlineAlgorithm`) supplies only what differs: whether it has a critic, how many
responses it samples per prompt, its advantages, and its critic's loss. The KL leash to the
reference is either a per-token penalty in the reward (the default: it makes the policy gradient an
unbiased gradient of E[r] - beta KL(pi || pi_ref), whose optimum is pi_ref exp(r / beta) / Z) or a
k3 term in the loss as in GRPO's paper (`--kl.placement loss`; its gradient is that of
KL(pi_ref || pi), a different leash with a different optimum).

Data parallelism: every process samples its share of the step's prompts, and the policy (with its
critic) is wrapped in DistributedDataParallel for the update; losses are sums over response tokens
divided by the token count of the whole minibatch over all processes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor
from transformers import PreTrainedModel

from rlhf.models import save_model
from rlhf.models.lora import merged
from rlhf.ops.kl import kl_penalty
from rlhf.ops.masked import masked_sum
from rlhf.ops.shaping import shape_scores
from rlhf.progress import progress
from rlhf.train.checkpoint import (
    LoopState,
    find_checkpoint,
    isolated_rng,
    load_checkpoint,
    save_checkpoint,
)
from rlhf.train.devices import autocast
from rlhf.train.experience import (
    Experience,
    reference_pass,
    sample,
    score,
)
from rlhf.train.loop import TrainResult, due, export_final, keep_best, open_run_log
from rlhf.train.online_config import OnlineConfig
from rlhf.train.online_setup import OnlineAlgorithm, OnlineRun, start_run
from rlhf.train.optimizer import set_learning_rate
from rlhf.train.policy_update import UpdateSettings, update_policy

logger = logging.getLogger(__name__)

__all__ = ["evaluate", "sequence_kl", "train_online"]


SAMPLE, SHUFFLE, EVALUATE = 0, 1, 2
"""Random streams: a step's sampling and its minibatch order, and the (fixed) evaluation samples."""


def _generator(run: OnlineRun, step: int, rank: int, stream: int) -> torch.Generator:
    """A generator seeded by (seed, step, rank, stream): randomness is a pure function of the step,
    so a resumed run draws what the uninterrupted one would have."""
    entropy = [run.config.loop.seed, step, rank, stream]
    seed = np.random.SeedSequence(entropy).generate_state(1)[0]
    return torch.Generator(run.device).manual_seed(int(seed))


@contextmanager
def _phase(name: str, timings: dict[str, float]) -> Iterator[None]:
    started = time.perf_counter()
    yield
    timings[f"timing/{name}"] = time.perf_counter() - started


def _global_mean(run: OnlineRun, values: Tensor) -> float:
    """The mean of `values` over every process's entries."""
    totals = run.dist.sum(torch.stack([values.float().sum(), torch.tensor(values.numel()).float()]))
    return float(totals[0] / totals[1].clamp(min=1))


def sequence_kl(logprobs: Tensor, ref_logprobs: Tensor, mask: Tensor) -> Tensor:
    """KL(pi || pi_ref) of each response, the k1 estimate summed over its tokens: (B,)."""
    return masked_sum(kl_penalty(logprobs, ref_logprobs, "k1"), mask, dim=-1)


def _collect(run: OnlineRun, step: int, timings: dict[str, float]) -> Experience:
    """The generate, score and reference phases of a step."""
    config = run.config
    group = run.algorithm.group_size
    prompts = [
        run.train_prompts[i]
        for ids in run.plan.micro_batches(step)
        for i in ids
        for _ in range(group)
    ]
    with _phase("generate", timings):
        rollout = sample(
            run.sources,
            prompts,
            config.sampling,
            batch_size=config.generation_batch_size,
            generator=_generator(run, step, run.dist.rank, SAMPLE),
        )
    with _phase("score", timings):
        scored = score(run.sources, prompts, rollout)
        scores = shape_scores(
            scored.rewards.to(run.device),
            rollout.finished,
            clip=config.score_clip,
            missing_eos_penalty=config.missing_eos_penalty,
        )
    with _phase("reference", timings), autocast(run.device, config.loop.precision):
        ref_logprobs, actor = reference_pass(
            run.sources,
            rollout,
            temperature=config.sampling.logprob_temperature,
            micro_batch_size=config.loop.micro_batch_size,
            # the sampler's log-probs are the training forward's, except from another engine
            with_actor=run.algorithm.critic != "none" or config.backend != "torch",
        )
    return Experience(
        rollout=rollout,
        old_logprobs=actor.logprobs if actor is not None else rollout.logprobs,
        ref_logprobs=ref_logprobs.float(),
        scores=scores,
        raw_scores=scored.rewards.to(run.device),
        costs=None if scored.costs is None else scored.costs.to(run.device),
        gold=None if scored.gold is None else scored.gold.to(run.device),
        old_values=None if actor is None else actor.values,
        old_cost_values=None if actor is None else actor.cost_values,
    )


def _step(run: OnlineRun, step: int) -> dict[str, float]:
    """One online step: collect experience, estimate advantages, update; returns its metrics."""
    config, timings = run.config, dict[str, float]()
    started = time.perf_counter()
    experience = _collect(run, step, timings)
    kl_coef = run.kl.value
    with _phase("advantages", timings):
        experience, estimate_metrics = run.algorithm.estimate(
            experience, kl_coef=kl_coef, dist=run.dist
        )
    with _phase("update", timings):
        lr = set_learning_rate(run.optimizer, config.optim, step=step, total_steps=run.total_steps)
        update_metrics = update_policy(
            run.trained,
            run.optimizer,
            experience,
            settings=_update_settings(config),
            kl_coef=kl_coef,
            critic_loss=run.algorithm.critic_loss,
            dist=run.dist,
            generator=_generator(run, step, run.dist.rank, SHUFFLE),
            autocast=lambda: autocast(run.device, config.loop.precision),
        )
    if config.backend != "torch":
        run.sources.backend.sync_weights(merged(run.sources.policy))
    mask = experience.mask
    kl = _global_mean(run, sequence_kl(experience.old_logprobs, experience.ref_logprobs, mask))
    episodes = len(experience) * run.dist.world_size
    run.kl.update(kl, n_steps=episodes)
    seconds = time.perf_counter() - started
    tokens = run.dist.sum(mask.sum())
    gold = {} if experience.gold is None else {"gold/score": _global_mean(run, experience.gold)}
    return {
        "reward/score": _global_mean(run, experience.raw_scores),
        **gold,
        "reward/shaped": _global_mean(run, experience.scores),
        "kl": kl,
        "kl/coef": kl_coef,
        "response/length": _global_mean(run, experience.rollout.response_lengths),
        "response/finished": _global_mean(run, experience.rollout.finished),
        "optim/lr": lr,
        **estimate_metrics,
        **update_metrics,
        **run.algorithm.after_step(experience, run.dist),
        **timings,
        "timing/step": seconds,
        "throughput/episodes_per_s": episodes / seconds,
        "throughput/tokens_per_s": float(tokens) / seconds,
    }


def _update_settings(config: OnlineConfig) -> UpdateSettings:
    return UpdateSettings(
        ppo_epochs=config.ppo_epochs,
        mini_batches=config.mini_batches,
        micro_batch_size=config.loop.micro_batch_size,
        clip_eps=config.clip_eps,
        dual_clip=config.dual_clip,
        entropy_coef=config.entropy_coef,
        target_kl=config.target_kl,
        kl_in_loss=config.kl.placement == "loss",
        kl_estimator=config.kl.estimator,
        max_grad_norm=config.optim.max_grad_norm,
    )


@torch.no_grad()
def evaluate(run: OnlineRun) -> dict[str, float]:
    """Reward, KL and length of fresh samples on the held-out prompts (same seed every time)."""
    config, sources = run.config, run.sources
    prompts = run.eval_prompts
    rollout = sample(
        sources,
        prompts,
        config.sampling,
        batch_size=config.generation_batch_size,
        generator=_generator(run, 0, 0, EVALUATE),
    )
    scored = score(sources, prompts, rollout)
    ref_logprobs, _ = reference_pass(
        sources,
        rollout,
        temperature=config.sampling.logprob_temperature,
        micro_batch_size=config.loop.micro_batch_size,
        with_actor=False,
    )
    results = {
        "reward": float(scored.rewards.mean()),
        "kl": float(sequence_kl(rollout.logprobs, ref_logprobs, rollout.response_mask).mean()),
        "length": float(rollout.response_lengths.float().mean()),
    }
    for name, values in (("cost", scored.costs), ("gold", scored.gold)):
        if values is not None:
            results[name] = float(values.mean())
    return results


def _export(run: OnlineRun, directory: Path) -> None:
    policy = cast(PreTrainedModel, merged(run.sources.policy))
    save_model(policy, run.sources.tokenizer, directory)


def train_online(
    config: OnlineConfig, algorithm: OnlineAlgorithm, resolved: dict[str, Any]
) -> TrainResult:
    """Train the policy online with `algorithm`; `resolved` is the config as JSON."""
    started = time.perf_counter()
    run = start_run(config, algorithm)
    state = _resume(run)
    actor = run.sources.actor
    metrics = open_run_log(
        config.output, resolved, config.loop, resume_step=state.step, is_main=run.dist.is_main
    )
    final_eval: dict[str, float] = {}
    try:
        for step in progress(
            range(state.step, run.total_steps), desc="train", total=run.total_steps
        ):
            row = _step(run, step)
            state = replace(state, step=step + 1, extra=_extra_state(run))
            last = state.step == run.total_steps
            if run.eval_prompts and (last or due(state.step, config.loop.eval_every)):
                final_eval = _evaluate_on_main(run)
                row.update({f"eval/{k}": v for k, v in final_eval.items()})
                state = keep_best(
                    state,
                    final_eval,
                    loop=config.loop,
                    output=config.output,
                    export=lambda directory: _export(run, directory),
                    is_main=run.dist.is_main,
                )
            if metrics is not None:
                metrics.log(state.step, row)
            if last or due(state.step, config.loop.save_every):
                save_checkpoint(config.output, state, actor, run.optimizer, run.dist)
    finally:
        if metrics is not None:
            metrics.close()
    export_final(
        state,
        loop=config.loop,
        output=config.output,
        export=lambda directory: _export(run, directory),
        dist=run.dist,
    )
    return TrainResult(
        output=config.output,
        steps=state.step,
        best=state.best,
        best_step=state.best_step,
        final_eval=final_eval,
        seconds=time.perf_counter() - started,
    )


KL_STATE = "kl."
"""Prefix of the KL controller's entries in a checkpoint's extra state."""


def _extra_state(run: OnlineRun) -> dict[str, float]:
    """What a checkpoint keeps beyond the weights: the KL coefficient and the algorithm's state."""
    kl = {KL_STATE + k: v for k, v in run.kl.state_dict().items()}
    return {**kl, **run.algorithm.state_dict()}


def _resume(run: OnlineRun) -> LoopState:
    """Where to start: the output's checkpoint when resuming, else step 0."""
    checkpoint = find_checkpoint(run.config.output) if run.config.loop.resume else None
    if checkpoint is None:
        return LoopState()
    state = load_checkpoint(checkpoint, run.sources.actor, run.optimizer, run.dist)
    kl = {k.removeprefix(KL_STATE): v for k, v in state.extra.items() if k.startswith(KL_STATE)}
    run.kl.load_state_dict(kl)
    run.algorithm.load_state_dict(state.extra)
    return state


def _evaluate_on_main(run: OnlineRun) -> dict[str, float]:
    results: dict[str, float] = {}
    if run.dist.is_main:
        with isolated_rng(), autocast(run.device, run.config.loop.precision):
            results = evaluate(run)
    run.dist.barrier()
    return results

"""Training an embedding or feature reward model: featurize once, fit the heads in one batch.

The featurizer is frozen, so every response becomes one vector before training (embeddings come
from the on-disk cache when they were computed before). The heads are then fit by full-batch
L-BFGS (`fit_heads`): there is no learning rate, no epoch count and nothing to resume; a run takes
seconds once the vectors exist. The output directory holds the model, `metrics.jsonl` (one row per
L-BFGS evaluation, and the final evaluation) and the resolved config, as a transformer run does.
With ties, each head's Davidson tie parameter is fitted in the same run (or fixed) and saved in the
card (`tie_nu`); the final row logs their mean as `train/reward/tie_nu`.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from rlhf.data.comparisons import Comparison, ComparisonIndex, index_comparisons
from rlhf.data.files import atomic_write_text
from rlhf.data.records import Text
from rlhf.models.embedding_reward import EmbeddingRewardModel
from rlhf.models.feature_reward import FeatureRewardModel
from rlhf.models.reward_scoring import Normalization
from rlhf.models.vector_reward import VectorRewardModel
from rlhf.train.loop import CONFIG_FILE
from rlhf.train.metrics import MetricsLogger
from rlhf.train.reward import RewardData, RewardTrainConfig, Say
from rlhf.train.reward_eval import RAW_COSTS, REPORTS
from rlhf.train.reward_heads import bootstrap_weights, fit_heads, vector_batch
from rlhf.train.reward_objective import check_loss_for_data

logger = logging.getLogger(__name__)

__all__ = ["build_vector_model", "train_vector_reward"]


def _flatten(comparisons: Sequence[Comparison]) -> tuple[list[Text], list[Text], list[int]]:
    """Prompts and responses of every comparison's responses in turn, and each one's offset."""
    prompts: list[Text] = []
    responses: list[Text] = []
    offsets = []
    for comparison in comparisons:
        offsets.append(len(responses))
        prompts.extend([comparison.prompt] * len(comparison.responses))
        responses.extend(comparison.responses)
    return prompts, responses, offsets


def build_vector_model(
    config: RewardTrainConfig, prompts: Sequence[Text], responses: Sequence[Text]
) -> VectorRewardModel:
    """A new embedding or feature model (features standardized on the given training texts)."""
    shape = {"heads": config.ensemble, "hidden": config.head_hidden, "seed": config.loop.seed}
    model: VectorRewardModel
    if config.kind == "embedding":
        model = EmbeddingRewardModel.create(
            blocks=config.block_names, cache_dir=config.cache_dir, **shape
        )
    else:
        model = FeatureRewardModel.for_data(prompts, responses, names=config.feature_names, **shape)
    model.objective = config.objective
    return model


def train_vector_reward(
    config: RewardTrainConfig, data: RewardData, say: Say, resolved: Mapping[str, Any]
) -> dict[str, Any]:
    """Fit an embedding or feature reward model; returns its summary."""
    started = time.perf_counter()
    use_ties = check_loss_for_data(config.loss, data.train)
    prompts, responses, offsets = _flatten(data.train)
    model = build_vector_model(config, prompts, responses)
    features = model.featurize(prompts, responses)  # (M, D)
    featurized = time.perf_counter() - started
    say(f"featurized {len(responses)} training responses in {featurized:.1f} s")
    weights = bootstrap_weights(len(data.train), config.ensemble, seed=config.loop.seed)
    batch = vector_batch(data.train, features, offsets, config.loss, weights)
    config.output.mkdir(parents=True, exist_ok=True)
    atomic_write_text(config.output / CONFIG_FILE, json.dumps(resolved, indent=2) + "\n")
    with MetricsLogger(config.output, resume_step=0) as metrics:
        result = fit_heads(
            model,
            batch,
            config.loss,
            use_ties=use_ties,
            l2=config.head_l2,
            objective=config.objective,
            on_iteration=lambda step, loss: metrics.log(step, {"train/objective": loss}),
        )
        held_out = index_comparisons(data.held_out)
        raw = model.score(*_columns(held_out), normalize=False)
        report = REPORTS[config.objective](raw, held_out)
        final = {f"train/{k}": v for k, v in result.metrics.items()}
        metrics.log(result.iterations, {**final, **{f"eval/{k}": v for k, v in report.items()}})
    model.normalization = _normalization(model, features, config.normalize_samples)
    model.tie_nu = result.tie_nu
    model.save_pretrained(config.output)
    seconds = time.perf_counter() - started
    say(f"fit {model.heads} head(s) in {result.iterations} L-BFGS iterations; eval {report}")
    return {
        "steps": result.iterations,
        "seconds": round(seconds, 2),
        "featurize_seconds": round(featurized, 2),
        "eval": report,
        "normalization": model.normalization.to_json(),
        **({} if result.tie_nu is None else {"tie_nu": list(result.tie_nu)}),
    }


def _normalization(model: VectorRewardModel, features: torch.Tensor, samples: int) -> Normalization:
    """Raw reward statistics on (at most `samples` of) the training responses' vectors; the
    identity for a cost model (its raw zero is the safe/unsafe boundary)."""
    if model.objective == "cost":
        return Normalization.identity(model.heads, reference=RAW_COSTS)
    rows = list(range(features.shape[0]))
    random.Random(0).shuffle(rows)
    rows = rows[:samples]
    with torch.no_grad():
        raw = model(features[rows])
    return Normalization.fit(raw, reference=f"{len(rows)} training responses")


def _columns(index: ComparisonIndex) -> tuple[list[Text], list[Text]]:
    return [p for p, _ in index.items], [r for _, r in index.items]

"""Fine-tuning a transformer reward model through the one training loop.

Responses are tokenized once up front; each step's batch scores every response of its comparisons
in one forward pass (`RewardObjective`). Evaluation on the held-out comparisons reports loss,
accuracy, mean margin and calibration error; the loop keeps the best model, checkpoints, and
resumes exactly after a kill. An ensemble trains K members into `OUTPUT/member-k/`, each from seed
`loop.seed + k` on its own bootstrap resample of the comparisons. With ties and `learn_tie_nu`,
each member learns its own Davidson tie parameter beside it (`WithTieParameter`: in the optimizer
at `loss.tie_nu_lr` and in the checkpoints), and exports it to its card. A cost model (`objective =
"cost"`) trains the same way on the cost loss, is judged by `cost_report`, and keeps raw scores.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from torch import nn
from transformers import PreTrainedModel

from rlhf.data.comparisons import Comparison, ComparisonIndex, index_comparisons
from rlhf.data.records import render_plain
from rlhf.models.ensemble import RewardEnsemble, member_dir
from rlhf.models.loading import ModelLoadError
from rlhf.models.minilm import minilm_path
from rlhf.models.reward import RewardModel
from rlhf.models.reward_scoring import Normalization
from rlhf.models.tiny import TinyEncoderConfig, TinyModelConfig, tiny_causal_lm, tiny_encoder
from rlhf.models.tokenizer import train_bpe_tokenizer
from rlhf.train.distributed import Distributed
from rlhf.train.loop import TrainResult, fit
from rlhf.train.reward import RewardData, RewardTrainConfig, Say
from rlhf.train.reward_collate import TokenizedComparison, collate_shared_prefix, collate_tokens
from rlhf.train.reward_eval import RAW_COSTS, REPORTS
from rlhf.train.reward_objective import RewardObjective, WithTieParameter, check_loss_for_data

logger = logging.getLogger(__name__)

__all__ = ["build_reward_model", "train_transformer_reward", "training_texts"]

TINY_VOCAB = 512


def build_reward_model(
    config: RewardTrainConfig, texts: Callable[[], list[str]], *, seed: int
) -> RewardModel:
    """A new reward (or cost) model on `config.backbone`: a local path, `minilm`, or `tiny`.

    `texts` gives the training text a `tiny` backbone's tokenizer is trained on.
    """
    model = _build_model(config, texts, seed=seed)
    model.objective = config.objective
    return model


def _build_model(
    config: RewardTrainConfig, texts: Callable[[], list[str]], *, seed: int
) -> RewardModel:
    pooling = None if config.pooling == "auto" else config.pooling
    kwargs: dict[str, Any] = {"pooling": pooling, "max_length": config.max_length, "seed": seed}
    if config.backbone == "minilm":
        return RewardModel.from_backbone(minilm_path(), **kwargs)
    if config.backbone != "tiny":
        if not Path(config.backbone).exists():
            raise ModelLoadError(
                f"--backbone {config.backbone} does not exist: pass a local checkpoint directory "
                "(a save_pretrained() output), `minilm` or `tiny`"
            )
        return RewardModel.from_backbone(config.backbone, **kwargs)
    cache = None if config.cache_dir is None else config.cache_dir / "tokenizers"
    tokenizer = train_bpe_tokenizer(texts(), vocab_size=TINY_VOCAB, cache_dir=cache)
    shape = {"vocab_size": len(tokenizer), "max_positions": config.max_length, "seed": seed}
    if config.tiny_arch == "bert":
        return RewardModel(
            tiny_encoder(TinyEncoderConfig(**shape), tokenizer=tokenizer), tokenizer, **kwargs
        )
    lm = tiny_causal_lm(TinyModelConfig(arch=config.tiny_arch, **shape), tokenizer=tokenizer)
    backbone = lm.base_model  # the transformer without its LM head
    if not isinstance(backbone, PreTrainedModel):
        raise TypeError(f"unexpected base model {type(backbone).__name__}")
    return RewardModel(backbone, tokenizer, **kwargs)


def training_texts(comparisons: Sequence[Comparison]) -> Callable[[], list[str]]:
    """The prompts and responses of `comparisons` as plain text, for a tokenizer to train on."""

    def texts() -> list[str]:
        out = [render_plain(c.prompt) for c in comparisons]
        return out + [render_plain(r) for c in comparisons for r in c.responses]

    return texts


def _bootstrap(comparisons: list[Comparison], seed: int) -> list[Comparison]:
    """A resample with replacement of the same size."""
    rng = random.Random(seed)
    return [comparisons[rng.randrange(len(comparisons))] for _ in comparisons]


def _tokenize(model: RewardModel, comparison: Comparison) -> TokenizedComparison:
    """Token rows of a comparison's responses; for decoders, with the prompt they share."""
    if model.pooling != "last":
        rows = tuple(tuple(model.encode(comparison.prompt, r)) for r in comparison.responses)
        return TokenizedComparison(rows, comparison)
    head, tails = model.encode_shared(comparison.prompt, comparison.responses)
    rows = tuple(tuple(head + tail) for tail in tails)
    return TokenizedComparison(rows, comparison, prompt_length=len(head))


def _reward_model(trained: nn.Module) -> RewardModel:
    """The reward model `fit` trained, with the tie parameter learned beside it (if any)."""
    model = trained.model if isinstance(trained, WithTieParameter) else trained
    if not isinstance(model, RewardModel):
        raise TypeError(f"expected a RewardModel, got {type(model).__name__}")
    if isinstance(trained, WithTieParameter):
        model.tie_nu = trained.nu
    return model


def _export(trained: nn.Module, directory: Path) -> None:
    _reward_model(trained).save_pretrained(directory)


def _normalize(output: Path, train: ComparisonIndex, samples: int, seed: int) -> RewardModel:
    """Measure the trained model's raw reward statistics on training responses; store them.

    A cost model keeps the identity: its raw zero is the safe/unsafe boundary.
    """
    model = RewardModel.from_pretrained(output)
    if model.objective == "cost":
        model.normalization = Normalization.identity(1, reference=RAW_COSTS)
        model.card().write(output)
        return model
    items = list(train.items)
    random.Random(seed).shuffle(items)
    items = items[:samples]
    rows = [model.encode(prompt, response) for prompt, response in items]
    reference = f"{len(rows)} training responses"
    model.normalization = Normalization.fit(model.score_token_rows(rows), reference=reference)
    model.card().write(output)
    return model


def _train_member(
    config: RewardTrainConfig,
    train: list[Comparison],
    held_out: ComparisonIndex,
    output: Path,
    seed: int,
    use_ties: bool,
    resolved: Mapping[str, Any],
) -> TrainResult:
    model = build_reward_model(config, training_texts(train), seed=seed)
    loss = config.loss
    trained: nn.Module = model
    if use_ties:
        model.tie_nu = (loss.tie_nu,)
        if loss.learn_tie_nu:
            trained = WithTieParameter(model, nu=loss.tie_nu, lr=loss.tie_nu_lr)
    log_nu = trained.log_nu if isinstance(trained, WithTieParameter) else None
    examples = [_tokenize(model, c) for c in train]
    # decoders compute each prompt once, shared by its responses; encoders need a row each
    shared = model.pooling == "last"
    collate = collate_shared_prefix if shared else collate_tokens
    held_rows = [model.encode(prompt, response) for prompt, response in held_out.items]

    report = REPORTS[config.objective]

    def evaluate(module: nn.Module) -> dict[str, float]:
        return report(_reward_model(module).score_token_rows(held_rows)[:, 0], held_out)

    return fit(
        trained,
        RewardObjective(loss, use_ties, config.objective, log_nu),
        examples,
        partial(collate, pad_id=model.pad_id, loss=loss, max_tokens=config.chunk_tokens),
        loop=replace(config.loop, seed=seed),
        optim=config.optim,
        output=output,
        export=_export,
        evaluate=evaluate if held_out.pairs > held_out.tie.count(True) else None,
        config=resolved,
    )


def train_transformer_reward(
    config: RewardTrainConfig, data: RewardData, say: Say, resolved: Mapping[str, Any]
) -> dict[str, Any]:
    """Train one transformer reward model (or an ensemble of them); returns its summary.

    Under `torchrun` every process trains; the main one alone measures the normalization, writes
    the ensemble card and evaluates the result.
    """
    dist = Distributed.from_env()
    use_ties = check_loss_for_data(config.loss, data.train)
    held_out = index_comparisons(data.held_out)
    train_index = index_comparisons(data.train)
    members: list[RewardModel] = []
    results: list[TrainResult] = []
    for k in range(config.ensemble):
        seed = config.loop.seed + k
        single = config.ensemble == 1
        output = config.output if single else member_dir(config.output, k)
        train = data.train if single else _bootstrap(data.train, seed)
        results.append(_train_member(config, train, held_out, output, seed, use_ties, resolved))
        if dist.is_main:
            members.append(_normalize(output, train_index, config.normalize_samples, seed))
            say(f"trained {output} in {results[-1].seconds:.1f} s ({results[-1].steps} steps)")
        dist.barrier()
    summary: dict[str, Any] = {
        "steps": sum(r.steps for r in results),
        "seconds": round(sum(r.seconds for r in results), 2),
        "eval": {},
    }
    if not dist.is_main:
        return summary
    scorer = members[0] if config.ensemble == 1 else RewardEnsemble(members)
    if isinstance(scorer, RewardEnsemble):
        scorer.save_card(config.output)
    if held_out.pairs:
        raw = scorer.score(*_columns(held_out), normalize=False)
        summary["eval"] = REPORTS[config.objective](raw, held_out)
    if scorer.tie_nu is not None:
        summary["tie_nu"] = list(scorer.tie_nu)
    return {**summary, "normalization": scorer.normalization.to_json()}


def _columns(index: ComparisonIndex) -> tuple[list[Any], list[Any]]:
    return [p for p, _ in index.items], [r for _, r in index.items]

"""Direct preference optimization and its variants, trained offline on preference pairs.

A step runs chosen and rejected responses through the policy in one forward pass, sums
log-probabilities over completion tokens, and applies a loss from
`rlhf.ops.PREFERENCE_LOSSES` (sigmoid DPO, IPO, robust DPO, hinge/SLiC, SimPO; plus the RPO NLL
term). By default each pair is one row that computes its prompt once, the rejected response
continuing the prompt beside the chosen one without seeing it (`shared_prefix_batch`); with
`--no-shared-prompt` the batch has 2B rows, the chosen sequences then the rejected ones. The
reference policy's log-probabilities are computed once, before training, and kept as
numbers (also on disk, `reference_logps.pt`, for resuming): the reference model is never held in
memory while the policy trains. With LoRA the reference is the base model with its adapters off,
which equals the policy at the start, so no second copy exists at any time.

Ties and `both_bad` judgments carry no preference direction and are dropped (a reward model uses
ties; see `rlhf train reward`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, cast

import torch
from torch import nn
from transformers import PreTrainedModel

from rlhf.data.convert import to_pairs
from rlhf.data.formats import FormatName
from rlhf.data.inputs import load_training_records
from rlhf.data.records import PreferencePair
from rlhf.data.split import split_by_prompt
from rlhf.data.tokenize import TokenizedCompletion, encode_completion, padding_id
from rlhf.errors import UserError
from rlhf.models import load_causal_lm, load_tokenizer, save_model
from rlhf.models.fused import fuse_activations
from rlhf.models.lora import LoraConfig, add_adapters, merged
from rlhf.ops import PREFERENCE_LOSSES, REFERENCE_FREE, LossHyper, PreferenceLogps, rpo_nll_term
from rlhf.ops.logprobs import completion_lengths
from rlhf.progress import progress
from rlhf.train.collate import TokenBatch, masked_logprobs, pad_batch, shared_prefix_batch
from rlhf.train.config import LoopConfig, OptimizerConfig
from rlhf.train.devices import autocast, move_to
from rlhf.train.distributed import Distributed
from rlhf.train.loop import TrainResult, fit

logger = logging.getLogger(__name__)

LossName = Literal["sigmoid", "ipo", "robust", "hinge", "simpo"]
REFERENCE_FILE = "reference_logps.pt"


@dataclass(frozen=True, kw_only=True)
class DPOConfig:
    """`rlhf train dpo`: direct preference optimization on preference pairs."""

    data: str
    """Training data: FILE[,FILE] of pairs, rankings or annotations (expanded into pairs)."""
    output: Path
    """Directory for the model, checkpoints, metrics and the resolved config."""
    model: str
    """The policy to start from: a local model directory with its tokenizer (usually SFT's)."""
    ref_model: str | None = None
    """The reference policy's directory; the starting policy itself when not given."""
    format: FormatName | None = None
    """The data's format; detected from each file's first record when not given."""
    loss: LossName = "sigmoid"
    """sigmoid (DPO), ipo, robust, hinge (SLiC) or simpo (reference-free); see docs/dpo.md."""
    beta: float = 0.1
    """Strength of the KL leash to the reference (SimPO: reward scale, e.g. 2.0)."""
    label_smoothing: float = 0.0
    """Assumed rate of flipped labels for sigmoid (cDPO) and robust."""
    gamma: float = 0.5
    """SimPO's target reward margin."""
    rpo_alpha: float = 0.0
    """Weight of the NLL term on the chosen response (RPO); 0 turns it off."""
    max_length: int = 256
    """Longest prompt + response in tokens."""
    shared_prompt: bool = True
    """Compute each pair's prompt once: one row of up to 2 x max_length tokens per pair with a
    (T x T) block attention mask, instead of two rows that both hold the prompt."""
    eval_fraction: float = 0.1
    """Share of prompts held out for evaluation."""
    lora: LoraConfig = field(default_factory=LoraConfig)
    """Low-rank adapters; the reference is then the base model with adapters off."""
    optim: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=1e-6))
    """The optimizer."""
    loop: LoopConfig = field(
        default_factory=lambda: LoopConfig(best_metric="eval/rewards/accuracy", best_mode="max")
    )
    """Batches (in pairs), length of training, evaluation and checkpoints."""

    @property
    def hyper(self) -> LossHyper:
        return LossHyper(
            beta=self.beta,
            label_smoothing=self.label_smoothing,
            gamma=self.gamma,
            alpha=self.rpo_alpha,
        )

    def __post_init__(self) -> None:
        self.hyper  # noqa: B018 - validates beta, label_smoothing and alpha early


@dataclass(frozen=True)
class PairExample:
    chosen: TokenizedCompletion
    rejected: TokenizedCompletion
    ref_chosen: float = 0.0
    """log pi_ref(chosen | prompt), filled in before training."""
    ref_rejected: float = 0.0


@dataclass(frozen=True)
class PairBatch:
    tokens: TokenBatch
    """R rows: B pair rows (shared prompt), or the B chosen sequences then the B rejected ones.
    `tokens.completion_mask` marks the chosen responses' tokens."""
    rejected_mask: torch.Tensor  # (R, T), 1 on the rejected responses' tokens
    chosen_rows: torch.Tensor  # (B,), the row of each pair's chosen response
    rejected_rows: torch.Tensor  # (B,)
    ref_chosen: torch.Tensor  # (B,)
    ref_rejected: torch.Tensor  # (B,)


def pair_length(example: PairExample) -> int:
    """A pair's size for grouping micro-batches: its chosen and rejected sequences together."""
    return len(example.chosen.input_ids) + len(example.rejected.input_ids)


def collate_pairs(
    pad_id: int, *, shared_prompt: bool = True
) -> Callable[[Sequence[PairExample]], PairBatch]:
    def collate(examples: Sequence[PairExample]) -> PairBatch:
        pairs = len(examples)
        if shared_prompt:
            tokens, rejected_mask = shared_prefix_batch(
                [(e.chosen, e.rejected) for e in examples], pad_id
            )
            chosen_rows = rejected_rows = torch.arange(pairs)
        else:
            tokens = pad_batch(
                [e.chosen for e in examples] + [e.rejected for e in examples], pad_id
            )
            is_rejected = (torch.arange(2 * pairs) >= pairs)[:, None]  # (2B, 1)
            rejected_mask = tokens.completion_mask * is_rejected
            tokens = replace(tokens, completion_mask=tokens.completion_mask * ~is_rejected)
            chosen_rows, rejected_rows = torch.arange(pairs), torch.arange(pairs, 2 * pairs)
        return PairBatch(
            tokens=tokens,
            rejected_mask=rejected_mask,
            chosen_rows=chosen_rows,
            rejected_rows=rejected_rows,
            ref_chosen=torch.tensor([e.ref_chosen for e in examples]),
            ref_rejected=torch.tensor([e.ref_rejected for e in examples]),
        )

    return collate


def pair_logps(model: nn.Module, batch: PairBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """(log-probabilities, completion lengths) of the B chosen then the B rejected responses, each
    (2B,), from one forward pass."""
    masks = torch.stack([batch.tokens.completion_mask, batch.rejected_mask])  # (2, R, T)
    logps = masked_logprobs(model, batch.tokens, masks)  # (2, R)
    lengths = completion_lengths(masks.flatten(0, 1)).view(2, -1)  # (2, R)
    rows = (batch.chosen_rows, batch.rejected_rows)
    return (
        torch.cat([logps[0, rows[0]], logps[1, rows[1]]]),
        torch.cat([lengths[0, rows[0]], lengths[1, rows[1]]]),
    )


class PreferenceObjective:
    """A DPO-family loss summed over pairs (the losses return means; times B is the sum)."""

    def __init__(self, name: LossName, hyper: LossHyper) -> None:
        self.loss_fn = PREFERENCE_LOSSES[name]
        self.hyper = hyper

    def units(self, batch: PairBatch) -> int:
        return len(batch.ref_chosen)

    def loss(
        self, model: nn.Module, batch: PairBatch
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logps, lengths = pair_logps(model, batch)
        pairs = len(batch.ref_chosen)
        inputs = PreferenceLogps(
            chosen=logps[:pairs],
            rejected=logps[pairs:],
            chosen_lengths=lengths[:pairs],
            rejected_lengths=lengths[pairs:],
            ref_chosen=batch.ref_chosen,
            ref_rejected=batch.ref_rejected,
        )
        loss, metrics = self.loss_fn(inputs, self.hyper)
        if self.hyper.alpha > 0:
            loss = loss + rpo_nll_term(inputs.chosen, inputs.chosen_lengths, alpha=self.hyper.alpha)
        sums = {name: value.sum() for name, value in metrics.items()}
        sums["logps/chosen"] = inputs.chosen.detach().sum()
        sums["logps/rejected"] = inputs.rejected.detach().sum()
        return loss * pairs, sums


def _tokenize(
    tokenizer: Any, pairs: Sequence[PreferencePair], max_length: int
) -> list[PairExample]:
    return [
        PairExample(
            chosen=encode_completion(tokenizer, p.prompt, p.chosen, max_length=max_length),
            rejected=encode_completion(tokenizer, p.prompt, p.rejected, max_length=max_length),
        )
        for p in pairs
    ]


@torch.no_grad()
def reference_logps(
    model: nn.Module,
    examples: Sequence[PairExample],
    collate: Callable[[Sequence[PairExample]], PairBatch],
    *,
    batch_size: int,
    precision: Any,
) -> list[PairExample]:
    """The examples with log pi_ref filled in, computed by `model` in eval mode."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    filled: list[PairExample] = []
    starts = range(0, len(examples), batch_size)
    for start in progress(starts, desc="reference log-probs", total=len(starts)):
        chunk = examples[start : start + batch_size]
        with autocast(device, precision):
            logps, _ = pair_logps(model, move_to(collate(chunk), device))
        values = logps.float().cpu().tolist()
        n = len(chunk)
        filled += [
            PairExample(e.chosen, e.rejected, c, r)
            for e, c, r in zip(chunk, values[:n], values[n:], strict=True)
        ]
    model.train(was_training)
    return filled


def _reference_for(
    config: DPOConfig,
    policy: nn.Module,
    splits: dict[str, list[PairExample]],
    collate: Callable[[Sequence[PairExample]], PairBatch],
) -> dict[str, list[PairExample]]:
    """Fill in reference log-probs: from `reference_logps.pt` when resuming, else computed once."""
    cache = config.output / REFERENCE_FILE
    sizes = {name: len(examples) for name, examples in splits.items()}
    if cache.is_file():
        stored = torch.load(cache, weights_only=True)
        if {name: len(values) for name, values in stored.items()} == sizes:
            logger.info("reference log-probs read from %s", cache)
            return {
                name: [
                    PairExample(e.chosen, e.rejected, float(c), float(r))
                    for e, (c, r) in zip(examples, stored[name].tolist(), strict=True)
                ]
                for name, examples in splits.items()
            }
    dist = Distributed.from_env()
    reference = load_causal_lm(config.ref_model) if config.ref_model else policy
    fuse_activations(reference)  # one GELU kernel, as `fit` gives the policy: models.fused
    reference.to(dist.device(config.loop.device))
    filled = {
        name: reference_logps(
            reference,
            examples,
            collate,
            batch_size=config.loop.micro_batch_size,
            precision=config.loop.precision,
        )
        for name, examples in splits.items()
    }
    if dist.is_main:
        config.output.mkdir(parents=True, exist_ok=True)
        table = {
            name: torch.tensor([[e.ref_chosen, e.ref_rejected] for e in examples]).reshape(-1, 2)
            for name, examples in filled.items()
        }
        torch.save(table, cache)
    del reference
    return filled


def evaluate_preferences(
    objective: PreferenceObjective,
    examples: Sequence[PairExample],
    collate: Callable[[Sequence[PairExample]], PairBatch],
    batch_size: int,
) -> Callable[[nn.Module], dict[str, float]]:
    """Held-out loss and implicit-reward metrics, averaged over pairs."""

    def evaluate(model: nn.Module) -> dict[str, float]:
        device = next(model.parameters()).device
        totals: dict[str, float] = {}
        for start in range(0, len(examples), batch_size):
            batch = move_to(collate(examples[start : start + batch_size]), device)
            loss, metrics = objective.loss(model, batch)
            for name, value in {"loss": loss, **metrics}.items():
                totals[name] = totals.get(name, 0.0) + float(value)
        return {name: total / len(examples) for name, total in totals.items()}

    return evaluate


def load_pairs(config: DPOConfig) -> list[PreferencePair]:
    """The decisive preference pairs of `--data` (ties and both-bad judgments dropped)."""
    converted = to_pairs(load_training_records(config.data, config.format))
    pairs = [p for p in converted.records if isinstance(p, PreferencePair) and not p.tie]
    dropped = converted.dropped + len(converted.records) - len(pairs)
    if dropped:
        logger.warning(
            "%d ties or both-bad judgments carry no preference and were dropped", dropped
        )
    if not pairs:
        raise UserError(f"{config.data} holds no decisive preference pairs to train on")
    return pairs


def train_dpo(config: DPOConfig, resolved: dict[str, Any]) -> TrainResult:
    """Run DPO (or a variant) as configured; `resolved` is the config as JSON."""
    train_pairs, eval_pairs = split_by_prompt(
        load_pairs(config), config.eval_fraction, seed=config.loop.seed
    )
    tokenizer = load_tokenizer(config.model)
    policy = load_causal_lm(config.model)
    pad_id = padding_id(tokenizer)
    collate = collate_pairs(pad_id, shared_prompt=config.shared_prompt)
    splits = {
        "train": _tokenize(tokenizer, train_pairs, config.max_length),
        "eval": _tokenize(tokenizer, eval_pairs, config.max_length),
    }
    if config.loss not in REFERENCE_FREE:
        splits = _reference_for(config, policy, splits, collate)
    trained = add_adapters(policy, config.lora)
    objective = PreferenceObjective(config.loss, config.hyper)
    logger.info(
        "%s on %d pairs, %d held out", config.loss, len(splits["train"]), len(splits["eval"])
    )

    def export(trained: nn.Module, directory: Path) -> None:
        save_model(cast(PreTrainedModel, merged(trained)), tokenizer, directory)

    held_out = splits["eval"]
    return fit(
        trained,
        objective,
        splits["train"],
        collate,
        loop=config.loop,
        optim=config.optim,
        output=config.output,
        export=export,
        evaluate=evaluate_preferences(objective, held_out, collate, config.loop.micro_batch_size)
        if held_out
        else None,
        config=resolved,
        size=pair_length,
    )

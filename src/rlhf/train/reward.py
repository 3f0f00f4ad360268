"""Training a reward model: `rlhf train reward`, read top to bottom.

1. read every data file, stopping on the first invalid one with its validation report;
2. hold out a share of the prompts (all their comparisons), seeded, so nothing leaks;
3. train the kind asked for: a transformer through the one training loop (`rlhf.train.fit`:
   evaluation, keep-best, checkpoints that resume exactly), or the heads of an embedding or
   feature model by full-batch L-BFGS (seconds; `rlhf.train.reward_vector`);
4. measure the normalization statistics on the training responses and store them with the model.

`objective = "cost"` trains the cost model of Safe RLHF (Dai et al. 2023) the same way, from safety
pairs (`rlhf.data.safety`: chosen is the safer response, each response labelled safe or unsafe) with
`cost_model_loss`; its scores stay raw (identity normalization), so c > 0 means unsafe.

An ensemble (`ensemble = K`) is K heads on the frozen trunk of an embedding or feature model, or K
transformers from different seeds; each member learns from its own bootstrap resample.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from rlhf.data.comparisons import Comparison, comparisons_from_records
from rlhf.data.io import LoadedRecord, read_file
from rlhf.data.records import Record
from rlhf.data.safety import cost_pair_problems
from rlhf.data.split import split_by_prompt
from rlhf.data.validation import InvalidDataError, Problem
from rlhf.errors import UserError
from rlhf.models.embedding_reward import BLOCKS, DEFAULT_BLOCKS
from rlhf.models.feature_reward import DEFAULT_FEATURES, FEATURES
from rlhf.models.reward_scoring import Objective
from rlhf.models.tiny import Arch
from rlhf.train.config import LoopConfig, OptimizerConfig
from rlhf.train.reward_objective import RewardLossConfig

logger = logging.getLogger(__name__)

__all__ = [
    "RewardData",
    "RewardTrainConfig",
    "load_reward_data",
    "train_reward",
]

RewardKind = Literal["transformer", "embedding", "features"]
TinyArch = Literal["gpt2", "llama", "bert"]
PoolingChoice = Literal["auto", "last", "mean", "cls"]
Say = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class RewardTrainConfig:
    """`rlhf train reward`: a reward model from human comparisons."""

    data: str
    """Training data: a file, or several separated by commas; preference pairs, rankings or
    annotations in any format `rlhf data validate` reads."""
    output: Path
    """Directory for the model, metrics.jsonl, the resolved config and checkpoints."""
    objective: Objective = "reward"
    """reward: higher for preferred responses (Bradley-Terry); cost: the cost model of Safe RLHF,
    from safety pairs (chosen = the safer response, metadata chosen_safe/rejected_safe), scored raw
    so that c > 0 means unsafe."""
    kind: RewardKind = "transformer"
    """transformer: fine-tune a backbone with a scalar head; embedding: a head on frozen MiniLM
    sentence embeddings (cached; seconds to retrain); features: logistic regression on numeric
    features of the response."""
    backbone: str = "tiny"
    """For --kind transformer: a local checkpoint directory (decoder or encoder), `minilm` (the
    packaged all-MiniLM-L6-v2) or `tiny` (a small model built from a config with a tokenizer
    trained on the data, for tests and demos)."""
    tiny_arch: TinyArch = "gpt2"
    """Architecture of the `tiny` backbone."""
    pooling: PoolingChoice = "auto"
    """Which hidden state the head reads: last real token (decoders), mean over tokens or the
    first token (encoders); auto picks last for decoders and mean for encoders."""
    max_length: int = 512
    """Longest prompt + response in tokens; longer ones lose the prompt's start first."""
    chunk_tokens: int = 1024
    """Padded tokens per forward pass: a micro-batch's rows run longest first in chunks of at
    most this many, so short rows are not padded to the longest and memory stays bounded (on
    CPUs ~1024 is fastest; raise it on GPUs, which want larger matrices)."""
    ensemble: int = 1
    """K >= 2 trains an ensemble of K (heads or models), each on its own bootstrap resample, so
    scores come with a standard deviation."""
    blocks: str = ",".join(DEFAULT_BLOCKS)
    """For --kind embedding: comma-separated embedding blocks of a (prompt, response)."""
    features: str = ",".join(DEFAULT_FEATURES)
    """For --kind features: comma-separated numeric features."""
    head_hidden: int = 0
    """For embedding/features: hidden width of an MLP head; 0 is a linear head."""
    head_l2: float = 1e-3
    """For embedding/features: L2 penalty on the head's weights (full-batch fit)."""
    eval_fraction: float = 0.1
    """Share of prompts held out for evaluation (all comparisons of a prompt go together)."""
    split_seed: int = 0
    """Seed of the held-out split."""
    normalize_samples: int = 4096
    """Training responses (at most) the normalization mean and std are measured on."""
    cache_dir: Path | None = None
    """Cache of embeddings and tokenizers; default $RLHF_CACHE or ~/.cache/rlhf."""
    loss: RewardLossConfig = field(default_factory=RewardLossConfig)
    """How judgments become a loss."""
    optim: OptimizerConfig = field(default_factory=OptimizerConfig)
    """Optimizer of the transformer kind."""
    loop: LoopConfig = field(default_factory=LoopConfig)
    """Training loop of the transformer kind."""

    def __post_init__(self) -> None:
        if not self.data_files:
            raise ValueError("--data names no file; pass FILE or FILE1,FILE2")
        if self.ensemble < 1:
            raise ValueError(f"--ensemble must be >= 1, got {self.ensemble}")
        if not 0.0 <= self.eval_fraction < 1.0:
            raise ValueError(f"--eval-fraction must lie in [0, 1), got {self.eval_fraction}")
        if self.max_length < 8:
            raise ValueError(f"--max-length must be at least 8 tokens, got {self.max_length}")
        if self.chunk_tokens < 1:
            raise ValueError(f"--chunk-tokens must be >= 1, got {self.chunk_tokens}")
        if self.head_hidden < 0 or self.head_l2 < 0 or self.normalize_samples < 2:
            raise ValueError("--head-hidden and --head-l2 must be >= 0, --normalize-samples >= 2")
        for name, chosen, known in (
            ("blocks", self.block_names, BLOCKS),
            ("features", self.feature_names, FEATURES),
        ):
            unknown = [c for c in chosen if c not in known]
            if unknown or not chosen:
                raise ValueError(f"--{name}: unknown {unknown}; choose from {', '.join(known)}")
        if self.tiny_arch != "bert" and self.tiny_arch not in get_args(Arch):
            raise ValueError(f"--tiny-arch {self.tiny_arch} is not buildable")
        if self.objective == "cost":
            loss = self.loss
            unused = [
                flag
                for flag, used in (
                    ("--loss.ranking plackett-luce", loss.ranking == "plackett-luce"),
                    ("--loss.margin", loss.margin != 0),
                    ("--loss.label-smoothing", loss.label_smoothing != 0),
                    ("--loss.center", loss.center != 0),
                )
                if used
            ]
            if unused:
                raise ValueError(
                    f"--objective cost uses the Safe RLHF cost loss, which has no "
                    f"{', '.join(unused)}; leave them at their defaults"
                )

    @property
    def data_files(self) -> list[Path]:
        return [Path(p.strip()) for p in self.data.split(",") if p.strip()]

    @property
    def block_names(self) -> tuple[str, ...]:
        return tuple(b.strip() for b in self.blocks.split(",") if b.strip())

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.strip() for f in self.features.split(",") if f.strip())


@dataclass(frozen=True)
class RewardData:
    """Comparisons to train on and to evaluate on, and what was left out."""

    train: list[Comparison]
    held_out: list[Comparison]
    dropped: int
    """Records with no preference (both bad, fewer than two ranked responses)."""


def load_reward_data(
    files: list[Path], *, eval_fraction: float, seed: int, objective: Objective = "reward"
) -> RewardData:
    """Read and validate every file, split each by prompt, and turn records into comparisons.

    For a cost model every record must be a safety pair (`rlhf.data.safety.cost_pair_problems`),
    not a tie.

    Raises:
        InvalidDataError: a file has problems (all of them are listed); nothing is trained.
    """
    train_records: list[Record] = []
    held_records: list[Record] = []
    for path in files:
        result = read_file(path)
        if objective == "cost" and not result.problems:
            result.problems = _cost_problems(str(path), result.entries)
        if result.problems:
            raise InvalidDataError(result.problems)
        train_part, held_part = split_by_prompt(result.records, eval_fraction, seed=seed)
        train_records += train_part
        held_records += held_part
    train, dropped_train = comparisons_from_records(train_records)
    held_out, dropped_held = comparisons_from_records(held_records)
    if not train:
        raise UserError(
            f"{', '.join(map(str, files))}: no comparison with a preference to train on"
        )
    return RewardData(train, held_out, dropped_train + dropped_held)


def _cost_problems(path: str, entries: list[LoadedRecord]) -> list[Problem]:
    """Why the records of a file cannot train a cost model, each at its line."""
    problems = []
    for entry in entries:
        errors = cost_pair_problems(entry.record)
        if getattr(entry.record, "tie", False):
            errors.append(("tie", "a cost model needs the safer response; leave ties out"))
        problems += [Problem(path, entry.line, field, reason) for field, reason in errors]
    return problems


def train_reward(
    config: RewardTrainConfig, *, say: Say, resolved: Mapping[str, Any]
) -> dict[str, Any]:
    """Train the reward model `config` asks for; returns the run's summary.

    `resolved` is the config as JSON values, written to the output as the run's resolved config.
    """
    data = load_reward_data(
        config.data_files,
        eval_fraction=config.eval_fraction,
        seed=config.split_seed,
        objective=config.objective,
    )
    pairs = sum(len(c.pairs) for c in data.train)
    say(
        f"{len(data.train)} training comparisons ({pairs} pairs), {len(data.held_out)} held out; "
        f"{data.dropped} records without a preference left out"
    )
    if config.kind == "transformer":
        from rlhf.train.reward_transformer import train_transformer_reward

        summary = train_transformer_reward(config, data, say, resolved)
    else:
        from rlhf.train.reward_vector import train_vector_reward

        summary = train_vector_reward(config, data, say, resolved)
    if "tie_nu" in summary:
        _say_ties(summary["tie_nu"], learned=config.loss.learn_tie_nu, say=say)
    return {
        "ok": True,
        "objective": config.objective,
        "kind": config.kind,
        "output": str(config.output),
        "train_comparisons": len(data.train),
        "held_out_comparisons": len(data.held_out),
        "dropped": data.dropped,
        **summary,
    }


def _say_ties(tie_nu: list[float], *, learned: bool, say: Say) -> None:
    from rlhf.train.reward_eval import tie_report

    ties = tie_report(tie_nu)
    how = "fitted" if learned else "fixed"
    each = f" (per member {', '.join(f'{nu:.3g}' for nu in tie_nu)})" if len(tie_nu) > 1 else ""
    say(
        f"Davidson tie parameter nu {ties['tie_nu']:.4g} {how}{each}: "
        f"P(tie | equal rewards) = {ties['tie_probability_equal']:.3f}"
    )

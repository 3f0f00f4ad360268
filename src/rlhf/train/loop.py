"""The one training loop every algorithm composes.

An algorithm supplies an `Objective` (what the loss of a batch is), examples and a collate function;
`fit` does the rest: data order, gradient accumulation, data-parallel processes, clipping, the
learning-rate schedule, bf16 autocast, evaluation and keep-best, metrics, progress, and checkpoints
that resume exactly. It also swaps the model's Python-written tanh GELUs (GPT-2's `gelu_new`) for
the one-kernel form, in place (`rlhf.models.fused`): the same function to float rounding, and
nothing saved changes (the config still names `gelu_new`; the weights are untouched).

Exactness of accumulation and data parallelism: an objective returns the SUM of its loss over the
units of a batch (tokens for SFT, pairs for DPO and reward models) and says how many units a batch
has. The loop counts the units of the whole global batch first (all micro-batches, all processes)
and scales each micro-batch's sum by 1/total, so one step's gradient is the same mean over the same
units whether it runs as one batch of 8, 4 accumulated micro-batches of 2, or 2 processes x 4.

Output directory:

    rlhf_config.json   the resolved config of the run
    metrics.jsonl      one row per step: train/*, optim/*, throughput/*; eval/* at evaluations
    checkpoint/        the resumable state (see `rlhf.train.checkpoint`)
    best/              the best model by `loop.best_metric` (with `loop.keep_best`)
    ...                the output model itself (`export`): the best one with `keep_best`, else
                       the last
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from rlhf.data.files import atomic_write_text
from rlhf.models.fused import fuse_activations
from rlhf.progress import progress
from rlhf.train.batches import BatchPlan
from rlhf.train.checkpoint import (
    LoopState,
    find_checkpoint,
    isolated_rng,
    load_checkpoint,
    save_checkpoint,
)
from rlhf.train.config import ConfigError, LoopConfig, OptimizerConfig
from rlhf.train.devices import autocast, move_to, seed_everything
from rlhf.train.distributed import Distributed, gradient_sync
from rlhf.train.metrics import MetricsLogger
from rlhf.train.optimizer import build_optimizer, set_learning_rate

logger = logging.getLogger(__name__)

Example = TypeVar("Example")
Batch = TypeVar("Batch")
Batch_contra = TypeVar("Batch_contra", contravariant=True)

CONFIG_FILE = "rlhf_config.json"
BEST = "best"


class Objective(Protocol[Batch_contra]):
    """What an algorithm trains for. Call `model(...)` (its forward), so data parallelism syncs."""

    def units(self, batch: Batch_contra) -> int:
        """How many units (tokens, pairs) the loss of `batch` is a sum over."""
        ...

    def loss(
        self, model: nn.Module, batch: Batch_contra
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss summed over the batch's units, and metrics summed the same way (scalars)."""
        ...


@dataclass(frozen=True)
class TrainResult:
    output: Path
    steps: int
    best: float | None
    """The best `loop.best_metric` seen, if the run evaluated."""
    best_step: int | None
    final_eval: dict[str, float]
    seconds: float


@dataclass
class _Run(Generic[Example, Batch]):
    """Everything one training run holds, built once by `fit`."""

    model: nn.Module
    """The model itself (what is saved and evaluated)."""
    trained: nn.Module
    """What runs forward: the model, wrapped for data parallelism when there are processes."""
    objective: Objective[Batch]
    examples: Sequence[Example]
    collate: Callable[[Sequence[Example]], Batch]
    optimizer: torch.optim.Optimizer
    plan: BatchPlan
    dist: Distributed
    device: torch.device
    autocast: Callable[[], AbstractContextManager[Any]]


def fit(
    model: nn.Module,
    objective: Objective[Batch],
    examples: Sequence[Example],
    collate: Callable[[Sequence[Example]], Batch],
    *,
    loop: LoopConfig,
    optim: OptimizerConfig,
    output: Path,
    export: Callable[[nn.Module, Path], None],
    evaluate: Callable[[nn.Module], dict[str, float]] | None = None,
    config: Mapping[str, Any] | None = None,
    size: Callable[[Example], int] | None = None,
) -> TrainResult:
    """Train `model` on `examples` for `objective`; write everything under `output`.

    `collate` turns a list of examples into a batch (a tensor, a mapping or a dataclass of tensors;
    the loop moves it to the device). `evaluate` returns metrics (without the `eval/` prefix) and
    runs on the main process with the RNG isolated, so evaluating never changes training. `export`
    writes the model to a directory (e.g. `save_pretrained`). `config` is written as the run's
    resolved config. `size` gives an example's padded length: each step's examples are then put
    in micro-batches of similar size, which pads less and leaves the step's gradient unchanged.
    `model` keeps its fused activations afterwards (see the module docstring).
    """
    started = time.perf_counter()
    sizes = [size(e) for e in examples] if size is not None else None
    run = _start(
        model, objective, examples, collate, loop=loop, optim=optim, output=output, sizes=sizes
    )
    total_steps = loop.max_steps or loop.epochs * run.plan.steps_per_epoch
    state = LoopState()
    if loop.resume and (checkpoint := find_checkpoint(output)) is not None:
        state = load_checkpoint(checkpoint, model, run.optimizer, run.dist)
    metrics = open_run_log(output, config, loop, resume_step=state.step, is_main=run.dist.is_main)
    final_eval: dict[str, float] = {}
    try:
        for step in progress(range(state.step, total_steps), desc="train", total=total_steps):
            row = _train_step(run, step, optim, total_steps)
            state = replace(state, step=step + 1)
            last = state.step == total_steps
            if evaluate is not None and (last or due(state.step, loop.eval_every)):
                final_eval = _evaluate(run, evaluate, loop)
                row.update({f"eval/{k}": v for k, v in final_eval.items()})
                state = keep_best(
                    state,
                    final_eval,
                    loop=loop,
                    output=output,
                    export=lambda directory: export(model, directory),
                    is_main=run.dist.is_main,
                )
            if metrics is not None:
                metrics.log(state.step, row)
            if last or due(state.step, loop.save_every):
                save_checkpoint(output, state, model, run.optimizer, run.dist)
    finally:
        if metrics is not None:
            metrics.close()
    export_final(
        state,
        loop=loop,
        output=output,
        export=lambda directory: export(model, directory),
        dist=run.dist,
    )
    return TrainResult(
        output=output,
        steps=state.step,
        best=state.best,
        best_step=state.best_step,
        final_eval=final_eval,
        seconds=time.perf_counter() - started,
    )


def open_run_log(
    output: Path,
    config: Mapping[str, Any] | None,
    loop: LoopConfig,
    *,
    resume_step: int,
    is_main: bool,
) -> MetricsLogger | None:
    """On the main process: write the resolved config and open the metrics log (None elsewhere)."""
    if not is_main:
        return None
    if config is not None:
        atomic_write_text(output / CONFIG_FILE, json.dumps(config, indent=2) + "\n")
    return MetricsLogger(
        output,
        resume_step=resume_step,
        tensorboard=loop.tensorboard,
        wandb_project=loop.wandb,
        config=dict(config) if config is not None else None,
    )


def _start(
    model: nn.Module,
    objective: Objective[Batch],
    examples: Sequence[Example],
    collate: Callable[[Sequence[Example]], Batch],
    *,
    loop: LoopConfig,
    optim: OptimizerConfig,
    output: Path,
    sizes: Sequence[int] | None,
) -> _Run[Example, Batch]:
    dist = Distributed.from_env()
    device = dist.device(loop.device)
    seed_everything(loop.seed + dist.rank)  # dropout differs between processes, as it should
    fuse_activations(model)  # GPT-2's gelu_new in one kernel, not five ops: the same function
    model.to(device)
    optimizer = build_optimizer(model, optim)
    trained: nn.Module = model
    if dist.enabled:
        device_ids = [device.index] if device.type == "cuda" else None
        trained = DistributedDataParallel(model, device_ids=device_ids)
    plan = BatchPlan(
        examples=len(examples),
        batch_size=loop.batch_size,
        micro_batch_size=loop.micro_batch_size,
        seed=loop.seed,
        rank=dist.rank,
        world_size=dist.world_size,
        sizes=sizes,
    )
    loop.accumulation_steps(dist.world_size)  # fails early on a batch size that does not divide
    output.mkdir(parents=True, exist_ok=True)
    return _Run(
        model=model,
        trained=trained,
        objective=objective,
        examples=examples,
        collate=collate,
        optimizer=optimizer,
        plan=plan,
        dist=dist,
        device=device,
        autocast=lambda: autocast(device, loop.precision),
    )


def _train_step(
    run: _Run[Example, Batch], step: int, optim: OptimizerConfig, total_steps: int
) -> dict[str, float]:
    """One optimizer step over this process's micro-batches; returns the step's train metrics."""
    started = time.perf_counter()
    batches = [run.collate([run.examples[i] for i in ids]) for ids in run.plan.micro_batches(step)]
    units = int(run.dist.sum(torch.tensor(sum(run.objective.units(b) for b in batches))))
    if units == 0:
        raise ConfigError(f"step {step}: the batch has nothing to train on (0 loss units)")
    sums: dict[str, torch.Tensor] = {}
    for index, batch in enumerate(batches):
        with gradient_sync(run.trained, last=index == len(batches) - 1):
            with run.autocast():
                loss, metrics = run.objective.loss(run.trained, move_to(batch, run.device))
            # DDP averages gradients over processes; the sum over units over all of them is wanted
            torch.autograd.backward(loss * run.dist.world_size / units)
        for name, value in {"loss": loss, **metrics}.items():
            sums[name] = sums.get(name, 0) + value.detach().float()
    lr = set_learning_rate(run.optimizer, optim, step=step, total_steps=total_steps)
    max_norm = optim.max_grad_norm or float("inf")  # inf measures the norm without clipping
    grad_norm = torch.nn.utils.clip_grad_norm_(run.model.parameters(), max_norm)
    run.optimizer.step()
    run.optimizer.zero_grad(set_to_none=True)
    names = sorted(sums)
    means = run.dist.sum(torch.stack([sums[n] for n in names])) / units
    seconds = time.perf_counter() - started
    return {
        **{f"train/{n}": float(v) for n, v in zip(names, means.tolist(), strict=True)},
        "optim/lr": lr,
        "optim/grad_norm": float(grad_norm),
        "throughput/examples_per_s": run.plan.batch_size / seconds,
        "timing/step": seconds,
    }


def _evaluate(
    run: _Run[Example, Batch],
    evaluate: Callable[[nn.Module], dict[str, float]],
    loop: LoopConfig,
) -> dict[str, float]:
    """Evaluate on the main process, in eval mode, without touching the training RNG."""
    results: dict[str, float] = {}
    if run.dist.is_main:
        run.model.eval()
        with isolated_rng(), torch.no_grad(), run.autocast():
            results = evaluate(run.model)
        run.model.train()
    run.dist.barrier()
    return results


def keep_best(
    state: LoopState,
    results: Mapping[str, float],
    *,
    loop: LoopConfig,
    output: Path,
    export: Callable[[Path], None],
    is_main: bool,
) -> LoopState:
    """Export the model to `best/` when this evaluation beats the best so far (main process)."""
    if not (loop.keep_best and is_main):
        return state
    name = loop.best_metric.removeprefix("eval/")
    if name not in results:
        raise ConfigError(
            f"loop.best_metric={loop.best_metric!r} is not among the evaluation metrics "
            f"{sorted('eval/' + k for k in results)}; pick one of them"
        )
    value = results[name]
    better = state.best is None or (
        value < state.best if loop.best_mode == "min" else value > state.best
    )
    if not better:
        return state
    _export_atomically(output / BEST, export)
    logger.info("step %d: new best %s = %.4g", state.step, loop.best_metric, value)
    return replace(state, best=value, best_step=state.step)


def _export_atomically(target: Path, export: Callable[[Path], None]) -> None:
    partial = target.with_name(target.name + ".tmp")
    shutil.rmtree(partial, ignore_errors=True)
    export(partial)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)


def export_final(
    state: LoopState,
    *,
    loop: LoopConfig,
    output: Path,
    export: Callable[[Path], None],
    dist: Distributed,
) -> None:
    """Write the output model: the best one when there is one and `keep_best`, else the last."""
    if dist.is_main:
        best = output / BEST
        if loop.keep_best and state.best_step is not None and best.is_dir():
            shutil.copytree(best, output, dirs_exist_ok=True)
        else:
            export(output)
    dist.barrier()


def due(step: int, every: int) -> bool:
    """Whether something done every `every` steps (0 = never) is due after step `step`."""
    return every > 0 and step % every == 0

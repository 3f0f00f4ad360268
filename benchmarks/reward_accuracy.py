"""Held-out pairwise accuracy of reward models on real human preferences.

Data, read in place from ../shared/data (or $RLHF_SHARED_DATA), never copied into the repository:

- HH-RLHF (Bai et al. 2022): the three test splits present (harmless-base, helpful-online,
  helpful-rejection-sampled; 6,198 pairs). The 34 pairs whose chosen equals rejected fail
  validation and are left out, as the data's README advises (the train splits are not available);
- summarize-from-feedback (Stiennon et al. 2020): the TL;DR comparisons of batch13 (1,097 worker
  labels of 905 summary pairs).

Each data set is split by prompt, seeded (`--eval-fraction` of the prompts held out with all their
pairs, so no prompt is in both parts), and each model is trained with `train_reward`, the function
behind `rlhf train reward`, on the training part only:

- `features`: logistic regression on 12 numeric features of a response (length, refusal, ...);
- `embedding`: a linear head on frozen all-MiniLM-L6-v2 embeddings (response, prompt + response),
  L-BFGS; embeddings are cached, so a second run is seconds (its time is reported too);
- `minilm-finetune` (with `--finetune [hh-rlhf] [summarize]`): all-MiniLM-L6-v2 fine-tuned end to
  end with a scalar head on the mean-pooled output, through the training loop, for as many steps
  as fit `--budget-minutes` (measured from a few timed steps first), at most `--max-epochs` passes;
  the last model is evaluated (no model selection on the held-out part).

Label noise caps what any model reaches (Bai et al. report ~0.72 for 13B models on HH after 100k+
pairs; inter-annotator agreement is ~0.63-0.77); a held-out figure above 0.75 here would mean a leak.

    .venv/bin/python benchmarks/reward_accuracy.py                    # features + embedding
    .venv/bin/python benchmarks/reward_accuracy.py --finetune     # + MiniLM fine-tunes (30 min each)

Writes benchmarks/results/reward_accuracy.json (or --output); merges into an existing file, so the
fine-tune can run separately.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from rlhf.data import read_file, write_records
from rlhf.data.records import Record
from rlhf.train import LoopConfig, OptimizerConfig
from rlhf.train.config import config_to_json
from rlhf.train.metrics import read_metrics
from rlhf.train.reward import RewardTrainConfig, train_reward

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_OUTPUT = HERE / "results" / "reward_accuracy.json"
HH_SPLITS = ("harmless-base", "helpful-online", "helpful-rejection-sampled")
SUMMARIZE = "summarize-from-feedback/comparisons/batch13.json"
DATA_SETS = ("hh-rlhf", "summarize")


def shared_data() -> Path:
    return Path(os.environ.get("RLHF_SHARED_DATA", REPO.parent / "shared" / "data"))


def valid_records(path: Path) -> tuple[list[Record], int]:
    """The records of `path` that passed validation, and how many were left out."""
    result = read_file(path)
    kept = result.valid_records
    return kept, len(result.entries) - len(kept)


def prepare(workdir: Path) -> dict[str, dict[str, Any]]:
    """Data files for each data set (HH written without its invalid pairs, to `workdir`)."""
    root = shared_data()
    hh: list[Record] = []
    left_out = 0
    for split in HH_SPLITS:
        records, dropped = valid_records(root / "hh-rlhf" / split / "test.jsonl.gz")
        hh += records
        left_out += dropped
    hh_file = workdir / "hh-rlhf-test.jsonl"
    write_records(hh, hh_file)
    return {
        "hh-rlhf": {"file": hh_file, "records": len(hh), "left_out_invalid": left_out},
        "summarize": {
            "file": root / SUMMARIZE,
            "records": len(read_file(root / SUMMARIZE).records),
        },
    }


def run(config: RewardTrainConfig) -> dict[str, Any]:
    started = time.perf_counter()
    summary = train_reward(
        config, say=lambda line: print("  " + line, flush=True), resolved=config_to_json(config)
    )
    summary["wall_seconds"] = round(time.perf_counter() - started, 1)
    return summary


def quick_models(
    data: dict[str, dict[str, Any]], args: argparse.Namespace, out: Path
) -> dict[str, Any]:
    """Features, then embeddings (default blocks; again from the warm cache; other blocks)."""
    results: dict[str, Any] = {}
    for name, info in data.items():
        base = RewardTrainConfig(
            data=str(info["file"]),
            output=out / name / "features",
            kind="features",
            eval_fraction=args.eval_fraction,
            split_seed=args.seed,
            cache_dir=args.cache_dir,
        )
        print(f"[{name}] features", flush=True)
        results[f"{name}/features"] = run(base)
        embedding = dataclasses.replace(base, kind="embedding", output=out / name / "embedding")
        print(f"[{name}] embedding {embedding.blocks} (encodes what the cache lacks)", flush=True)
        first = run(embedding)
        print(f"[{name}] embedding again (warm cache)", flush=True)
        second = run(dataclasses.replace(embedding, output=out / name / "embedding-again"))
        first["rerun_wall_seconds"] = second["wall_seconds"]
        results[f"{name}/embedding"] = first
        for blocks in ("response", "joint"):
            print(f"[{name}] embedding {blocks}", flush=True)
            variant = dataclasses.replace(embedding, blocks=blocks, output=out / name / blocks)
            results[f"{name}/embedding-{blocks}"] = run(variant)
    return results


def finetune_config(
    info: dict[str, Any], args: argparse.Namespace, out: Path, steps: int
) -> RewardTrainConfig:
    return RewardTrainConfig(
        data=str(info["file"]),
        output=out,
        kind="transformer",
        backbone="minilm",
        max_length=args.max_length,
        eval_fraction=args.eval_fraction,
        split_seed=args.seed,
        cache_dir=args.cache_dir,
        optim=OptimizerConfig(
            lr=args.lr, schedule="linear", warmup_steps=max(1, steps // 20), weight_decay=0.01
        ),
        loop=LoopConfig(
            max_steps=steps,
            batch_size=args.batch_size,
            micro_batch_size=args.batch_size,
            eval_every=args.eval_every,
            save_every=50,
            keep_best=False,
            seed=args.seed,
        ),
    )


def finetune(
    data: dict[str, dict[str, Any]], args: argparse.Namespace, out: Path
) -> dict[str, Any]:
    """Fine-tune MiniLM on each data set named by `--finetune`: time a few steps, then train for
    as many steps as fit the budget, at most `--max-epochs` passes over the training pairs.

    The budget covers the probe and the training steps; the final evaluation and the
    normalization statistics (forward passes only) come after it.
    """
    results: dict[str, Any] = {}
    for name in args.finetune:
        info, work = data[name], out / name
        probe = 3
        print(f"[{name}] minilm-finetune: timing {probe} steps", flush=True)
        probe_config = finetune_config(info, args, work / "probe", probe)
        # timing only: no held-out evaluation, next to no normalization statistics
        timed = run(dataclasses.replace(probe_config, eval_fraction=0.0, normalize_samples=2))
        per_step = statistics.median(row["timing/step"] for row in read_metrics(work / "probe"))
        budget = args.budget_minutes * 60 - timed["wall_seconds"]
        train_pairs = info["records"] * (1 - args.eval_fraction)  # about: the split is by prompt
        epoch_cap = int(args.max_epochs * train_pairs / args.batch_size)
        fitting = args.steps or int(budget * 0.9 / per_step)
        steps = max(probe, min(fitting, epoch_cap))
        print(f"[{name}] minilm-finetune: {per_step:.1f} s/step -> {steps} steps", flush=True)
        result = run(finetune_config(info, args, work / "minilm", steps))
        result["seconds_per_step"] = round(per_step, 2)
        result["pairs_seen"] = steps * args.batch_size
        result["budget_minutes"] = args.budget_minutes
        results[f"{name}/minilm-finetune"] = result
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--workdir", type=Path, default=None, help="where models are written")
    parser.add_argument("--cache-dir", type=Path, default=None, help="embedding cache")
    parser.add_argument("--eval-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--finetune",
        nargs="*",
        choices=DATA_SETS,
        default=None,
        help="also fine-tune MiniLM on these data sets (all when none is named)",
    )
    parser.add_argument("--skip-quick", action="store_true", help="only the fine-tune")
    parser.add_argument("--budget-minutes", type=float, default=30.0, help="per data set")
    parser.add_argument(
        "--max-epochs",
        type=float,
        default=1.0,
        help="fine-tuning passes, at most (on HH a second pass overfits: 0.587 -> 0.550)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=0,
        help="fine-tuning steps instead of those the budget fits on this machine now (a loaded "
        "machine times the probe slow; the probe's time is still recorded)",
    )
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument(
        "--eval-every",
        type=int,
        default=0,
        help="held-out evaluation every N fine-tuning steps (a learning curve; no model selection)",
    )
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="rlhf-reward-accuracy-"))
    data = prepare(work)
    results: dict[str, Any] = (
        json.loads(args.output.read_text())["results"] if args.output.is_file() else {}
    )
    if not args.skip_quick:
        results.update(quick_models(data, args, work))
    if args.finetune is not None:
        args.finetune = args.finetune or list(DATA_SETS)
        results.update(finetune(data, args, work))
    report = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "threads": args.threads,
        },
        "data": {k: {**v, "file": str(v["file"])} for k, v in data.items()},
        "eval_fraction": args.eval_fraction,
        "seed": args.seed,
        "results": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    for name, result in results.items():
        held = result.get("eval", {})
        print(
            f"{name}: held-out accuracy {held.get('accuracy', float('nan')):.3f} on "
            f"{held.get('pairs', 0):.0f} pairs, ECE {held.get('ece', float('nan')):.3f}, "
            f"{result['wall_seconds']} s"
        )


if __name__ == "__main__":
    main()

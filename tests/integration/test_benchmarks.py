"""The benchmarks run end to end in their reduced form and write the figures they promise."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_quick(benchmark: str, tmp_path: Path) -> tuple[dict[str, Any], str]:
    """Run `benchmarks/NAME.py --quick`; return the figures it wrote and what it printed."""
    output = tmp_path / f"{benchmark}.json"
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / f"{benchmark}.py"), "--quick",
         "--output", str(output)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(output.read_text()), result.stdout


@pytest.mark.slow
def test_train_speed_quick(tmp_path: Path) -> None:
    pytest.importorskip("trl")
    figures, stdout = run_quick("train_speed", tmp_path)
    assert figures["settings"]["quick"] is True
    for job in ("ours-sft", "trl-sft", "ours-dpo", "trl-dpo-precomputed"):
        run = figures["jobs"][job]
        assert run["samples_per_s"] > 0
        assert run["peak_rss_mb"] > run["baseline_rss_mb"] > 0
        assert run["mean_tokenized_length"] > 0
    for comparison in ("sft", "dpo"):
        assert set(figures[comparison]) >= {
            "throughput_ours_over_trl",
            "peak_rss_ours_over_trl",
            "training_rss_ours_over_trl",
        }
    # both frameworks saw the same tokens
    assert figures["jobs"]["ours-sft"]["mean_tokenized_length"] == pytest.approx(
        figures["jobs"]["trl-sft"]["mean_tokenized_length"]
    )
    assert figures["jobs"]["ours-dpo"]["mean_tokenized_length"] == pytest.approx(
        figures["jobs"]["trl-dpo-precomputed"]["mean_tokenized_length"]
    )
    flops = figures["flops"]
    assert flops["matmul_peak_flops"] > 0
    assert 0 < flops["fraction_of_peak_real_tokens"] <= flops["fraction_of_peak_padded"] < 1.5
    environment = figures["environment"]
    assert environment["trl"]
    assert environment["torch_threads"] >= 1
    assert environment["cpu_model"]
    assert figures["date"]
    assert "ours/TRL" in stdout


@pytest.mark.slow
def test_generate_speed_quick(tmp_path: Path) -> None:
    figures, stdout = run_quick("generate_speed", tmp_path)
    assert figures["settings"]["quick"] is True
    assert set(figures["scenarios"]) == {"fixed-length", "eos"}
    for scenario in figures["scenarios"].values():
        for job in ("ours", "transformers", "transformers+our-cache"):
            run = scenario["jobs"][job]
            assert run["tokens_per_s"] > 0
            assert run["peak_rss_mb"] >= run["baseline_rss_mb"] > 0
            assert 0 < run["mean_response_tokens"] <= figures["settings"]["max_new_tokens"]
            assert scenario["profile_top_ops"][job]
        assert scenario["comparison"]["throughput_ours_over_transformers"] > 0
    # without EOS both frameworks generate exactly max_new_tokens per response
    fixed = figures["scenarios"]["fixed-length"]["jobs"]
    for job in ("ours", "transformers"):
        assert fixed[job]["mean_response_tokens"] == figures["settings"]["max_new_tokens"]
    assert figures["environment"]["loadavg_before"]
    assert "ours/transformers" in stdout


@pytest.mark.slow
def test_online_trl_quick(tmp_path: Path) -> None:
    pytest.importorskip("trl")
    figures, stdout = run_quick("online_trl", tmp_path)
    settings = figures["settings"]
    assert settings["quick"] is True
    tokens_per_step = settings["episodes_per_step"] * settings["max_new_tokens"]
    for job in ("ours-grpo", "trl-grpo", "ours-rloo", "trl-rloo", "ours-ppo"):
        run = figures["jobs"][job]
        assert run["episodes_per_s"] > 0
        assert run["peak_rss_mb"] > run["baseline_rss_mb"] > 0
        # EOS can never be sampled: every response is max_new_tokens long on both sides
        assert run["response_tokens_per_step"] == tokens_per_step
        assert run["generated_tokens_per_s"] == pytest.approx(
            run["episodes_per_s"] * settings["max_new_tokens"]
        )
    assert figures["jobs"]["ours-grpo"]["phases_s_median"]["timing/generate"] > 0
    for comparison in ("grpo", "rloo"):
        assert figures[comparison]["episodes_per_s_ours_over_trl"] > 0
        assert figures[comparison]["peak_rss_ours_over_trl"] > 0
    assert "PPO" in figures["what_runs"]["trl-ppo"]
    assert figures["environment"]["uptime_before"]
    assert "ours/TRL" in stdout


@pytest.mark.slow
def test_demo_time_quick(tmp_path: Path) -> None:
    figures, stdout = run_quick("demo_time", tmp_path)
    assert figures["settings"]["quick"] is True
    assert 0 < figures["demo_seconds"] <= figures["wall_seconds"]
    assert figures["share_of_budget"] == pytest.approx(figures["wall_seconds"] / 600, abs=1e-3)
    assert "round 2: PPO" in figures["phases"]
    assert figures["peak_rss_mb"] > 0
    assert "of the 600 s budget" in stdout


@pytest.mark.slow
def test_cpu_kernels_quick(tmp_path: Path) -> None:
    figures, stdout = run_quick("cpu_kernels", tmp_path)
    assert figures["settings"]["quick"] is True
    for vocab in figures["settings"]["vocabularies"]:
        chunks = figures["logprob_chunks"][f"vocab_{vocab}"]
        for pair in ("token_logprobs_forward_backward", "entropy"):
            assert chunks[pair]["ours_s"] > 0
            assert chunks[pair]["replaced_s"] > 0
            assert len(chunks[pair]["per_round_speedup"]) == figures["settings"]["rounds"]
    generation = figures["prepacked_generation"]
    assert generation["ours_s"] > 0
    assert generation["replaced_s"] > 0
    assert "prepacked generation" in stdout

"""Heads, feature and embedding reward models, the embedding cache, and ensembles."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from rlhf.models.embedding_cache import EmbeddingCache, text_digest
from rlhf.models.embedding_reward import EMBEDDING_DIM, EmbeddingRewardModel
from rlhf.models.ensemble import RewardEnsemble
from rlhf.models.feature_reward import FEATURES, FeatureRewardModel, feature_matrix
from rlhf.models.minilm import SentenceEncoder, minilm_path
from rlhf.models.reward_loader import load_reward_model
from rlhf.models.reward_scoring import Normalization
from rlhf.models.vector_reward import RewardHeads

PROMPTS = ["What is 2 plus 2?", "Tell me how to steal a car.", "Name a colour."]
RESPONSES = ["The answer is 4.", "I can't help with that, sorry.", "Blue!\nAlso red."]


@torch.no_grad()
def test_linear_and_mlp_heads_match_a_loop() -> None:
    x = torch.randn(5, 6)
    linear = RewardHeads(6, heads=3, seed=1)
    expected = [
        [float(x[n] @ linear.w1[k, :, 0] + linear.b1[k, 0]) for k in range(3)] for n in range(5)
    ]
    torch.testing.assert_close(linear(x), torch.tensor(expected), atol=1e-5, rtol=1e-5)
    mlp = RewardHeads(6, heads=2, hidden=4, seed=1)
    for k in range(2):
        hidden = torch.nn.functional.gelu(x @ mlp.w1[k] + mlp.b1[k])
        torch.testing.assert_close(mlp(x)[:, k], hidden @ mlp.w2[k] + mlp.b2[k])
    assert not torch.equal(linear.w1[0], linear.w1[1])  # heads start apart


def test_features_by_hand() -> None:
    matrix = feature_matrix(
        ["What is 2 plus 2?"],
        ["Sorry, I can't. 4!"],
        ["log_chars", "refusal", "exclamations", "prompt_overlap"],
    )
    chars = len("Sorry, I can't. 4!")
    # response words {sorry, i, can't, 4}: none but "4"... the prompt has "2", so 0 of 4 overlap
    assert matrix.tolist()[0] == pytest.approx([math.log1p(chars), 1.0, math.log1p(1), 0.0])


def test_feature_model_standardizes_and_round_trips(tmp_path: Path) -> None:
    model = FeatureRewardModel.for_data(PROMPTS, RESPONSES, heads=1)
    features = model.featurize(PROMPTS, RESPONSES)
    assert features.shape == (3, len(FEATURES))
    torch.testing.assert_close(features.mean(0), torch.zeros(len(FEATURES)), atol=1e-5, rtol=0)
    model.normalization = Normalization((1.0,), (3.0,))
    model.save_pretrained(tmp_path / "f")
    loaded = load_reward_model(tmp_path / "f")
    assert isinstance(loaded, FeatureRewardModel)
    torch.testing.assert_close(loaded.score(PROMPTS, RESPONSES), model.score(PROMPTS, RESPONSES))
    assert set(loaded.weights()) == set(FEATURES)


def test_cache_encodes_each_text_once_and_persists(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def encode(texts: list[str]) -> torch.Tensor:
        calls.append(texts)
        return torch.tensor([[float(len(t)), 1.0] for t in texts])

    cache = EmbeddingCache(tmp_path, "fake", shard_size=2)
    first, encoded = cache.embed(["aa", "b", "aa", "ccc"], encode)
    assert encoded == 3
    assert [len(c) for c in calls] == [2, 1]  # shards of at most 2
    assert first[:, 0].tolist() == [2.0, 1.0, 2.0, 3.0]
    again = EmbeddingCache(tmp_path, "fake")  # a new process: reads the shards
    second, encoded = again.embed(["ccc", "b", "dddd"], encode)
    assert encoded == 1
    assert second[:, 0].tolist() == [3.0, 1.0, 4.0]
    assert len(again) == 4
    (tmp_path / "fake" / ".tmp-partial").write_bytes(b"killed mid-write")
    assert len(EmbeddingCache(tmp_path, "fake")) == 4  # partial files are never read
    assert text_digest("aa") != text_digest("aa ")


def test_sentence_encoder_matches_sentence_transformers() -> None:
    sentence_transformers = pytest.importorskip("sentence_transformers")
    ours = SentenceEncoder.minilm().encode(RESPONSES)
    reference = sentence_transformers.SentenceTransformer(str(minilm_path()), device="cpu")
    theirs = torch.tensor(reference.encode(RESPONSES))
    assert ours.shape == (3, EMBEDDING_DIM)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(ours.norm(dim=-1), torch.ones(3))


def test_embedding_model_uses_the_cache_and_round_trips(tmp_path: Path) -> None:
    model = EmbeddingRewardModel.create(
        blocks=("response", "prompt_x_response"), heads=2, cache_dir=tmp_path
    )
    scores = model.score(PROMPTS, RESPONSES)
    assert model.encoded == 6  # three responses, three prompts
    model.save_pretrained(tmp_path / "e")
    loaded = EmbeddingRewardModel.from_pretrained(tmp_path / "e", cache_dir=tmp_path)
    torch.testing.assert_close(loaded.score(PROMPTS, RESPONSES), scores)
    assert loaded.encoded == 0
    assert loaded._encoder is None  # everything came from the cache; MiniLM was never loaded
    mean, std = loaded.score_with_std(PROMPTS, RESPONSES)
    torch.testing.assert_close(mean, scores)
    assert (std > 0).all()


def test_ensemble_mean_and_std_over_normalized_members() -> None:
    members = []
    for seed, (mu, sigma) in enumerate([(0.0, 1.0), (2.0, 4.0), (-1.0, 0.5)]):
        member = FeatureRewardModel.for_data(PROMPTS, RESPONSES, seed=seed)
        member.normalization = Normalization((mu,), (sigma,))
        members.append(member)
    ensemble = RewardEnsemble(members)
    normalized = torch.stack([m.score(PROMPTS, RESPONSES) for m in members], dim=-1)  # (N, K)
    mean, std = ensemble.score_with_std(PROMPTS, RESPONSES)
    torch.testing.assert_close(mean, normalized.mean(-1))
    torch.testing.assert_close(std, normalized.std(-1, correction=0))
    torch.testing.assert_close(ensemble.score(PROMPTS, RESPONSES), mean)

"""Models and tokenizers for tests and demos: local loading, tiny models, a trained BPE tokenizer.

- `loading`: `load_causal_lm`, `load_encoder`, `load_tokenizer` read directories written by
  `save_pretrained` (local files only, safetensors preferred); `save_model` writes them.
- `tiny`: `tiny_causal_lm` (GPT-2 or Llama shape) and `tiny_encoder` (BERT shape) build small
  seeded models in memory from a `transformers` config.
- `tokenizer`: `train_bpe_tokenizer` trains a byte-level BPE tokenizer on given text, with a chat
  template, and caches it on disk.
- reward models (docs/reward-models.md): `RewardModel` (a backbone and a scalar head, `reward`),
  `EmbeddingRewardModel` (frozen MiniLM embeddings, `embedding_reward`), `FeatureRewardModel`
  (numeric features, `feature_reward`), `RewardEnsemble` (`ensemble`); `load_reward_model` reads
  any of them; each `score`s (prompt, response) pairs (`reward_scoring.RewardScorer`).

Nothing here touches the network.
"""

from rlhf.models.embedding_reward import EmbeddingRewardModel
from rlhf.models.ensemble import RewardEnsemble
from rlhf.models.feature_reward import FeatureRewardModel
from rlhf.models.loading import (
    ModelLoadError,
    load_causal_lm,
    load_encoder,
    load_tokenizer,
    save_model,
)
from rlhf.models.reward import RewardModel
from rlhf.models.reward_loader import load_reward_model
from rlhf.models.reward_scoring import Normalization, RewardScorer, UncertainRewardScorer
from rlhf.models.tiny import TinyEncoderConfig, TinyModelConfig, tiny_causal_lm, tiny_encoder
from rlhf.models.tokenizer import (
    CHAT_TEMPLATE,
    DEFAULT_SPECIAL_TOKENS,
    EOS_TOKEN,
    PAD_TOKEN,
    tokenizer_cache_key,
    train_bpe_tokenizer,
)

__all__ = [
    "CHAT_TEMPLATE",
    "DEFAULT_SPECIAL_TOKENS",
    "EOS_TOKEN",
    "PAD_TOKEN",
    "EmbeddingRewardModel",
    "FeatureRewardModel",
    "ModelLoadError",
    "Normalization",
    "RewardEnsemble",
    "RewardModel",
    "RewardScorer",
    "TinyEncoderConfig",
    "TinyModelConfig",
    "UncertainRewardScorer",
    "load_causal_lm",
    "load_encoder",
    "load_reward_model",
    "load_tokenizer",
    "save_model",
    "tiny_causal_lm",
    "tiny_encoder",
    "tokenizer_cache_key",
    "train_bpe_tokenizer",
]

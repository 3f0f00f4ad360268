"""Generation for online RLHF: sample responses from a policy into a rollout batch.

- `sampling`: `SamplingConfig` (length, temperature, top-k, top-p, stop strings) and the pure
  functions that turn one step's logits into tokens and their log-probabilities.
- `batch`: `Rollout`, the batch of prompts, responses, masks and sampled log-probs, with the
  sequences, attention mask and position ids a training forward pass needs.
- `generate`: `generate`, batched sampling with a KV cache from a `transformers` causal LM.
- `decoder`: the forward passes `generate` runs: a fast path for GPT-2 and Llama built from the
  model's own submodules, and the model's own forward for every other architecture.
- `cache`: the KV cache `generate` uses, preallocated once instead of concatenated every step.
- `logprobs`: `response_logprobs` and `forward_response`, the same log-probs recomputed (with
  gradients) in one full forward pass, for the policy, the reference and a value head.
- `backends`: `GenerationBackend` and its implementations in `BACKENDS`: "torch" (the live model,
  `generate`) and "vllm" (the optional vLLM engine, `pip install 'rlhf[vllm]'`).
- `best_of_n`: `rlhf sample --best-of N`, sampling n responses per prompt and keeping the best.
"""

from rlhf.rollout.backends import BACKENDS, GenerationBackend, TorchBackend, VLLMBackend
from rlhf.rollout.batch import Rollout
from rlhf.rollout.generate import generate, left_pad
from rlhf.rollout.logprobs import ResponseForward, forward_response, response_logprobs
from rlhf.rollout.sampling import SamplingConfig, choose_tokens, filter_logits

__all__ = [
    "BACKENDS",
    "GenerationBackend",
    "ResponseForward",
    "Rollout",
    "SamplingConfig",
    "TorchBackend",
    "VLLMBackend",
    "choose_tokens",
    "filter_logits",
    "forward_response",
    "generate",
    "left_pad",
    "response_logprobs",
]

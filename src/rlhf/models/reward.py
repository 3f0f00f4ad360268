"""`RewardModel`: a Hugging Face backbone (decoder or encoder) with a scalar head.

The backbone reads the prompt and the response as one sequence; the reward is a linear function of
one vector per sequence (Ouyang et al. 2022, section 3.5; Stiennon et al. 2020):

- decoders (`pooling="last"`): the hidden state of the last real token, found from the attention
  mask, so left and right padding give the same reward (positions are computed from the mask too).
  The text is tokenized as the policy trainers tokenize it (`rlhf.data.tokenize`): the response
  ends with the eos token, so the reward is read where the model has seen the whole response;
- encoders (`pooling="mean"` or `"cls"`): the mean of the hidden states over real tokens (how
  sentence encoders such as MiniLM were trained) or the first token's. Prompt and response are
  a sentence pair (`[CLS] prompt [SEP] response [SEP]`); long inputs lose the prompt's start first.

`save_pretrained(dir)` writes the backbone (config.json, model.safetensors), its tokenizer, the head
(`reward_head.safetensors`) and the card with the normalization statistics; `from_pretrained(dir)`
reads them back, from local files only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

from rlhf.data.records import Text, render_plain
from rlhf.data.tokenize import completion_ids, prompt_ids
from rlhf.models.loading import ModelLoadError, load_encoder, load_tokenizer, save_model
from rlhf.models.minilm import mean_pool
from rlhf.models.reward_scoring import HeadScorer, Normalization, RewardCard

logger = logging.getLogger(__name__)

__all__ = ["POOLINGS", "Pooling", "RewardModel", "pad_token_ids"]

Pooling = Literal["last", "mean", "cls"]
POOLINGS: tuple[Pooling, ...] = get_args(Pooling)
HEAD_FILE = "reward_head.safetensors"
KIND = "transformer"


def default_pooling(backbone: PreTrainedModel) -> Pooling:
    """`mean` for encoders (architectures with a masked-LM form, e.g. BERT), `last` otherwise."""
    return "mean" if backbone.config.model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES else "last"


def pad_token_ids(
    rows: Sequence[Sequence[int]], pad_id: int, *, side: Literal["left", "right"] = "right"
) -> dict[str, Tensor]:
    """`input_ids` and `attention_mask` (B, T) for token id rows padded to the longest."""
    length = max(len(row) for row in rows)
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    for i, row in enumerate(rows):
        span = slice(length - len(row), length) if side == "left" else slice(0, len(row))
        ids[i, span] = torch.tensor(row, dtype=torch.long)
        mask[i, span] = 1
    return {"input_ids": ids, "attention_mask": mask}


class RewardModel(HeadScorer, nn.Module):
    """A backbone and a linear head giving one reward per sequence.

    `forward(input_ids, attention_mask)` returns rewards (B, 1), the input of the training loss;
    `score(prompts, responses)` tokenizes, batches and returns normalized rewards (N,).
    """

    kind = KIND

    def __init__(
        self,
        backbone: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        pooling: Pooling | None = None,
        max_length: int = 512,
        normalization: Normalization | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.pooling: Pooling = pooling or default_pooling(backbone)
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        self.max_length = max_length
        self.normalization = normalization or Normalization.identity(1)
        if tokenizer.pad_token_id is None:  # GPT-2 style tokenizers: pad with eos (masked anyway)
            tokenizer.pad_token = tokenizer.eos_token
        width = int(backbone.config.hidden_size)
        self.head = nn.Linear(width, 1)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            # InstructGPT/TRL initialization: N(0, 1/(d+1)), zero bias
            nn.init.normal_(self.head.weight, std=1.0 / (width + 1) ** 0.5)
            nn.init.zeros_(self.head.bias)

    @property
    def pad_id(self) -> int:
        return int(self.tokenizer.pad_token_id)

    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        position_ids: Tensor | None = None,
        read_positions: Tensor | None = None,
        *,
        chunks: Sequence[Mapping[str, Tensor]] = (),
        order: Tensor | None = None,
    ) -> Tensor:
        """Rewards (B, 1) of token rows (B, T); `attention_mask` (B, T) is 1 on real tokens.

        Shared-prefix rows (decoders): `attention_mask` is (B, 1, T, T) boolean (True: may
        attend), `position_ids` (B, T), and `read_positions` (M,) the flat indexes into B * T of
        the tokens to read; the rewards are then (M, 1). With `chunks` (each a dict of the
        arguments above), every chunk runs in turn and the concatenated rewards are returned in
        `order` (`rlhf.train.reward_collate`).
        """
        if chunks:
            rewards = torch.cat([self._rows(**chunk) for chunk in chunks])
            return rewards if order is None else rewards[order]
        if input_ids is None or attention_mask is None:
            raise ValueError("RewardModel.forward needs input_ids and attention_mask, or chunks")
        return self._rows(input_ids, attention_mask, position_ids, read_positions)

    def _rows(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        position_ids: Tensor | None = None,
        read_positions: Tensor | None = None,
    ) -> Tensor:
        kwargs: dict[str, Tensor] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if self.pooling == "last":  # positions from the mask: left padding reads the same
            kwargs["position_ids"] = (
                position_ids
                if position_ids is not None
                else (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
            )
        hidden = self.backbone(**kwargs).last_hidden_state  # (B, T, D)
        if read_positions is not None:
            pooled = hidden.reshape(-1, hidden.shape[-1])[read_positions]  # (M, D)
        elif self.pooling == "last":
            # index of the last 1 in each row, whichever side the padding is on
            mask = attention_mask.to(hidden.dtype)
            last = mask.shape[1] - 1 - mask.flip(-1).argmax(-1)  # (B,)
            pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        elif self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            pooled = mean_pool(hidden, attention_mask)
        return self.head(pooled.to(self.head.weight.dtype))  # type: ignore[no-any-return]

    def encode(self, prompt: Text, response: Text) -> list[int]:
        """Token ids of one (prompt, response), at most `max_length` long."""
        if self.pooling != "last":
            self.tokenizer.truncation_side = "left"
            encoded = self.tokenizer(
                render_plain(prompt),
                render_plain(response),
                truncation="longest_first",
                max_length=self.max_length,
            )
            return list(encoded["input_ids"])
        head, (tail,) = self.encode_shared(prompt, [response])
        return head + tail

    def encode_shared(
        self, prompt: Text, responses: Sequence[Text]
    ) -> tuple[list[int], list[list[int]]]:
        """Decoders: the prompt's ids and each response's ids after it (ending with eos).

        As `rlhf.data.tokenize.encode_completion` truncates: too long, a response keeps its start
        and the prompt loses its start, until the prompt and the longest response fit
        `max_length`; the prompt is the same for every response, so they can share it.
        """
        if getattr(self.tokenizer, "chat_template", None) is None:
            prompt, responses = render_plain(prompt), [render_plain(r) for r in responses]
        if isinstance(prompt, str) and prompt:
            prompt = prompt + "\n\n"
        head = prompt_ids(self.tokenizer, prompt)
        tails = [completion_ids(self.tokenizer, prompt, r) for r in responses]
        limit = max(1, self.max_length - min(len(head), self.max_length // 2))
        tails = [tail[:limit] for tail in tails]
        room = self.max_length - max(len(tail) for tail in tails)
        return (head[max(0, len(head) - room) :] if room > 0 else []), tails

    @torch.no_grad()
    def raw_scores(
        self, prompts: Sequence[Text], responses: Sequence[Text], *, batch_size: int = 32
    ) -> Tensor:
        """Raw rewards (N, 1), batched by length (longest first) to waste little on padding."""
        rows = [self.encode(p, r) for p, r in zip(prompts, responses, strict=True)]
        return self.score_token_rows(rows, batch_size=batch_size)

    @torch.no_grad()
    def score_token_rows(self, rows: Sequence[Sequence[int]], *, batch_size: int = 32) -> Tensor:
        """Raw rewards (N, 1) of already tokenized rows."""
        was_training = self.training
        self.train(False)
        device = self.head.weight.device
        order = sorted(range(len(rows)), key=lambda i: -len(rows[i]))
        out = torch.zeros(len(rows), 1)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            batch = pad_token_ids([rows[i] for i in chunk], self.pad_id)
            out[chunk] = self(**{k: v.to(device) for k, v in batch.items()}).float().cpu()
        self.train(was_training)
        return out

    def card(self) -> RewardCard:
        settings = {"pooling": self.pooling, "max_length": self.max_length}
        return RewardCard(KIND, 1, self.normalization, settings, self.objective, self.tie_nu)

    def save_pretrained(self, directory: str | os.PathLike[str]) -> Path:
        """Write backbone, tokenizer, head and card to `directory` (created if missing)."""
        path = save_model(self.backbone, self.tokenizer, directory)
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in self.head.state_dict().items()},
            path / HEAD_FILE,
        )
        self.card().write(path)
        return path

    @classmethod
    def from_pretrained(
        cls, directory: str | os.PathLike[str], *, device: str | None = None
    ) -> RewardModel:
        """A model written by `save_pretrained`, from local files only."""
        card = RewardCard.read(Path(directory))
        if card.kind != KIND:
            raise ModelLoadError(f"{directory} holds a {card.kind} reward model, not a {KIND} one")
        head_path = Path(directory) / HEAD_FILE
        if not head_path.is_file():
            raise ModelLoadError(f"{directory} has no {HEAD_FILE}; save the model again")
        model = cls(
            load_encoder(directory),
            load_tokenizer(directory),
            pooling=card.settings["pooling"],
            max_length=int(card.settings["max_length"]),
            normalization=card.normalization,
        )
        model.head.load_state_dict(load_file(head_path))
        model.objective, model.tie_nu = card.objective, card.tie_nu
        return model.to(device) if device else model

    @classmethod
    def from_backbone(cls, path: str | os.PathLike[str], **kwargs: Any) -> RewardModel:
        """A new reward model on the backbone of a local checkpoint (decoder or encoder).

        A causal LM checkpoint loads without its LM head. `kwargs` go to the constructor.
        """
        backbone = load_encoder(path)
        return cls(backbone, load_tokenizer(path), **kwargs)

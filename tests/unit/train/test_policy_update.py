"""The update phase's minibatch order: rows of one prompt side by side, the shuffle kept otherwise."""

from __future__ import annotations

import torch

from rlhf.rollout.batch import Rollout
from rlhf.train.experience import Experience
from rlhf.train.policy_update import _by_prompt


def test_rows_of_a_prompt_are_gathered_where_the_prompt_first_appears() -> None:
    prompt_of_row = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])  # 4 prompts x 2 samples
    prompts = torch.tensor([[5, 6], [7, 8], [0, 9], [5, 7]])[prompt_of_row]  # (B, P)
    mask = torch.ones_like(prompts)
    mask[prompt_of_row == 2, 0] = 0  # a left-padded prompt
    zeros = torch.zeros(8, 3)
    rollout = Rollout(prompt_ids=prompts, prompt_mask=mask, response_ids=zeros.long(),
                      response_mask=zeros.long(), finished=torch.zeros(8, dtype=torch.bool),
                      logprobs=zeros)  # fmt: skip
    experience = Experience(rollout=rollout, old_logprobs=zeros, ref_logprobs=zeros,
                            scores=zeros[:, 0], raw_scores=zeros[:, 0])  # fmt: skip
    shuffled = torch.tensor([5, 2, 0, 7, 4, 3, 1, 6])  # prompts 2, 1, 0, 3, 2, 1, 0, 3
    assert _by_prompt(experience, shuffled).tolist() == [5, 4, 2, 3, 0, 1, 7, 6]
    assert _by_prompt(experience, shuffled[:3]).tolist() == [5, 2, 0]  # all distinct: unchanged

"""Pure math of training: plain functions of tensors, no config objects, no I/O, no `.item()`.

- `logprobs`: `token_logprobs` (memory-lean log_softmax + gather), `sequence_logprobs` (sum or
  mean over completion tokens; logits t predict token t + 1), `segment_logprobs` (several masked
  sums over one row), `completion_lengths`.
- `masked`: `masked_sum`, `masked_mean`, `masked_var`, `masked_whiten` over the real entries of
  padded tensors.
- `kl`: per-token KL estimators k1/k2/k3 (`kl_penalty`, table `KL_ESTIMATORS`), and the stateful
  `AdaptiveKLController` (Ziegler et al. 2019) and `FixedKLController` a trainer checkpoints.
- `advantages`: `gae` (with returns), `group_advantages` (GRPO, Dr. GRPO), `rloo_advantages`;
  its docstring holds the recommended gamma, lambda and whitening, with the reasons.
- `policy_losses`: per-token `ppo_policy_loss` (dual clip optional), `ppo_value_loss`,
  `entropy_from_logits` (memory-lean), and the metrics `clip_fraction`, `approx_kl`,
  `explained_variance`.
- `preference_losses`: the DPO family (`dpo_loss` with cDPO, `ipo_loss`, `robust_dpo_loss`,
  `hinge_loss`, `simpo_loss`, `rpo_nll_term`), their inputs `PreferenceLogps` and `LossHyper`,
  and the table `PREFERENCE_LOSSES` a trainer picks a loss from by name.
- `reward_losses`: reward-model losses: `bradley_terry_loss` (margin, label smoothing),
  `davidson_loss` (ties), `plackett_luce_loss` (rankings), `reward_centering_penalty`.
- `calibration`: `expected_calibration_error`, `calibration_bins` and
  `pairwise_expected_calibration_error` of a reward model's pairwise probabilities.
- `acquisition`: an ensemble's disagreement on a pairwise decision (`margin_std`,
  `vote_disagreement`, table `DISAGREEMENTS`) and `most_uncertain`, the items to ask people next.
"""

from rlhf.ops.acquisition import (
    DISAGREEMENTS,
    margin_std,
    most_uncertain,
    vote_disagreement,
)
from rlhf.ops.advantages import gae, group_advantages, rloo_advantages
from rlhf.ops.calibration import (
    CalibrationBins,
    calibration_bins,
    expected_calibration_error,
    pairwise_expected_calibration_error,
)
from rlhf.ops.kl import (
    KL_ESTIMATORS,
    AdaptiveKLController,
    FixedKLController,
    KLEstimator,
    kl_penalty,
)
from rlhf.ops.logprobs import (
    completion_lengths,
    segment_logprobs,
    sequence_logprobs,
    token_logprobs,
)
from rlhf.ops.masked import masked_mean, masked_sum, masked_var, masked_whiten
from rlhf.ops.policy_losses import (
    approx_kl,
    clip_fraction,
    entropy_from_logits,
    explained_variance,
    ppo_policy_loss,
    ppo_value_loss,
)
from rlhf.ops.preference_losses import (
    PREFERENCE_LOSSES,
    REFERENCE_FREE,
    LossHyper,
    Metrics,
    PreferenceLogps,
    PreferenceLoss,
    dpo_loss,
    hinge_loss,
    ipo_loss,
    robust_dpo_loss,
    rpo_nll_term,
    simpo_loss,
)
from rlhf.ops.reward_losses import (
    bradley_terry_loss,
    davidson_loss,
    plackett_luce_loss,
    reward_centering_penalty,
)

__all__ = [
    "DISAGREEMENTS",
    "KL_ESTIMATORS",
    "PREFERENCE_LOSSES",
    "REFERENCE_FREE",
    "AdaptiveKLController",
    "CalibrationBins",
    "FixedKLController",
    "KLEstimator",
    "LossHyper",
    "Metrics",
    "PreferenceLogps",
    "PreferenceLoss",
    "approx_kl",
    "bradley_terry_loss",
    "calibration_bins",
    "clip_fraction",
    "completion_lengths",
    "davidson_loss",
    "dpo_loss",
    "entropy_from_logits",
    "expected_calibration_error",
    "explained_variance",
    "gae",
    "group_advantages",
    "hinge_loss",
    "ipo_loss",
    "kl_penalty",
    "margin_std",
    "masked_mean",
    "masked_sum",
    "masked_var",
    "masked_whiten",
    "most_uncertain",
    "pairwise_expected_calibration_error",
    "plackett_luce_loss",
    "ppo_policy_loss",
    "ppo_value_loss",
    "reward_centering_penalty",
    "rloo_advantages",
    "robust_dpo_loss",
    "rpo_nll_term",
    "segment_logprobs",
    "sequence_logprobs",
    "simpo_loss",
    "token_logprobs",
    "vote_disagreement",
]

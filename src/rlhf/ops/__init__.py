"""Pure math of training: plain functions of tensors, no config objects, no I/O, no `.item()`.

- `logprobs`: `token_logprobs` (memory-lean log_softmax + gather), `sequence_logprobs` (sum or
  mean over completion tokens; logits t predict token t + 1), `segment_logprobs` (several masked
  sums over one row), `completion_lengths`.
- `masked`: `masked_sum`, `masked_mean` over the real entries of padded tensors.
- `preference_losses`: the DPO family (`dpo_loss` with cDPO, `ipo_loss`, `robust_dpo_loss`,
  `hinge_loss`, `simpo_loss`, `rpo_nll_term`), their inputs `PreferenceLogps` and `LossHyper`,
  and the table `PREFERENCE_LOSSES` a trainer picks a loss from by name.
- `reward_losses`: reward-model losses: `bradley_terry_loss` (margin, label smoothing),
  `davidson_loss` (ties), `plackett_luce_loss` (rankings), `reward_centering_penalty`.
- `calibration`: `expected_calibration_error`, `calibration_bins` and
  `pairwise_expected_calibration_error` of a reward model's pairwise probabilities.
"""

from rlhf.ops.calibration import (
    CalibrationBins,
    calibration_bins,
    expected_calibration_error,
    pairwise_expected_calibration_error,
)
from rlhf.ops.logprobs import (
    completion_lengths,
    segment_logprobs,
    sequence_logprobs,
    token_logprobs,
)
from rlhf.ops.masked import masked_mean, masked_sum
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
    "PREFERENCE_LOSSES",
    "REFERENCE_FREE",
    "CalibrationBins",
    "LossHyper",
    "Metrics",
    "PreferenceLogps",
    "PreferenceLoss",
    "bradley_terry_loss",
    "calibration_bins",
    "completion_lengths",
    "davidson_loss",
    "dpo_loss",
    "expected_calibration_error",
    "hinge_loss",
    "ipo_loss",
    "masked_mean",
    "masked_sum",
    "pairwise_expected_calibration_error",
    "plackett_luce_loss",
    "reward_centering_penalty",
    "robust_dpo_loss",
    "rpo_nll_term",
    "segment_logprobs",
    "sequence_logprobs",
    "simpo_loss",
    "token_logprobs",
]

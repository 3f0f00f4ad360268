"""Evaluation: win rates with intervals, diversity, reward-vs-KL curves, `rlhf eval`, and the
HTML report of a run directory (`rlhf report`)."""

"""Annotator quality: how far human labels can be trusted, and labels that say how far.

- `labels`: annotations -> an items x annotators table of category codes (a, b, tie, both_bad);
- `agreement`: percent agreement, Cohen's and Fleiss' kappa, Krippendorff's alpha;
- `bootstrap`: confidence intervals by resampling items;
- `consensus`: majority vote, Dawid-Skene EM (latent classes by BIC), accuracy on gold items;
- `bradley_terry`: crowd Bradley-Terry with Rao-Kupper ties (scores and reliabilities);
- `aggregate`: the `--method` table, and consensus -> training pairs with a confidence;
- `diagnostics`, `fatigue`: per-annotator position and length bias, speed, spam, drift;
- `trends`, `regression`: the change-point, trend and likelihood-ratio tests they use;
- `simulate`: synthetic annotators with planted flaws, answering through the store;
- `analysis`, `report`, `plots`: the whole analysis, as JSON and as a self-contained HTML report.

The math modules are pure functions of numpy arrays; see docs/quality.md.
"""

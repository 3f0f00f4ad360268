"""rlhf: from human judgments to an aligned model."""

__version__ = "0.1.0"

"""The demo: the project's main job on its own built-in task."""

from rlhf.demo.config import DemoConfig
from rlhf.demo.pipeline import DemoCheckFailed, run_demo

__all__ = ["DemoCheckFailed", "DemoConfig", "run_demo"]

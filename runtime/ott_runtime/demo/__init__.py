"""``ottc demo``: a synthetic OTT world and event stream feeding a standalone runtime."""

from ott_runtime.demo.generator import EventGenerator, audience_factor
from ott_runtime.demo.runner import DemoSettings, run_demo

__all__ = ["DemoSettings", "EventGenerator", "audience_factor", "run_demo"]

"""The integration tier: real processes and live servers, no Node."""

from __future__ import annotations

from ..leaks import _collect_garbage_after_each_test  # noqa: F401  (autouse)

"""The errors of the grading tools."""

from __future__ import annotations

from tlcourse.errors import TLCourseError

__all__ = ["GradingError", "SandboxUnavailableError"]


class GradingError(TLCourseError, RuntimeError):
    """otter assign failed, or a generated student notebook would show solutions."""


class SandboxUnavailableError(GradingError):
    """The sandbox that grading runs submissions in cannot start on this machine."""

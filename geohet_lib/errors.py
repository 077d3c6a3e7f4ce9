"""Error types shared by both studies."""

from __future__ import annotations

__all__ = ["InputDataError"]


class InputDataError(ValueError):
    """Bad user input: the message names the variable, the bad value and the fix."""

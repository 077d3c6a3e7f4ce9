"""Error types shared by both studies."""

from __future__ import annotations

__all__ = ["InputDataError", "StageMismatchError"]


class InputDataError(ValueError):
    """Bad user input: the message names the variable, the bad value and the fix."""


class StageMismatchError(ValueError):
    """A stage's input is not what it expects: an artefact changed since it was written, or
    it was built for another profile, seed or upstream result; the message names the stage
    to rerun (:mod:`geohet_lib.stages`)."""

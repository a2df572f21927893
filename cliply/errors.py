"""Errors a user is meant to read: each carries a stable code and a plain-language reason."""

from __future__ import annotations


class InputRejected(ValueError):
    """A source that cannot be processed. Recorded on the source row; never crashes other work."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class SourceNotFound(LookupError):
    """No such source in this workspace (or at all)."""

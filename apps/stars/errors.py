"""The error a user's unusable input raises in the stars app (the CLI prints its one line and exits 2)."""

from __future__ import annotations

__all__ = ["InputError"]


class InputError(ValueError):
    """An input file or option that cannot be used at all; the message is one line, meant for the user."""

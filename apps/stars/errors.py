"""The error a user's unusable input raises in the stars app: the kit's one InputError (the CLI prints its one
line and exits 2)."""

from __future__ import annotations

from ..kit.errors import InputError

__all__ = ["InputError"]

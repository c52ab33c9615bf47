"""`invert demo`: the engine on built-in toy problems; `invert demo posterior` is a third app built from the kit."""

from .cli import app

__all__ = ["app"]

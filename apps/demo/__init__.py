"""`invert demo`: the engine on built-in toy problems; `invert demo posterior` is a third app built from the kit."""

from .cli import INN_TOY_NET, INN_TOY_TRAIN, app, mode_shares

__all__ = ["app", "INN_TOY_NET", "INN_TOY_TRAIN", "mode_shares"]

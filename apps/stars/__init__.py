"""Stars app: star-cluster / HII-region parameters from optical emission lines (docs/stars.md)."""

from .model.problem import StarsProblem

__all__ = ["StarsProblem"]

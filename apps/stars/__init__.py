"""Stars app: star-cluster / HII-region parameters from optical emission lines (science/stars.md)."""

from .problem import StarsProblem

__all__ = ["StarsProblem"]

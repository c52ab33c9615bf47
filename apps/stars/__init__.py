"""Stars app: star-cluster / HII-region parameters from optical emission lines (docs/stars.md)."""

__all__ = ["StarsProblem"]


def __getattr__(name: str):
    """StarsProblem, imported on first use: it loads torch, which `invert stars --help` does not need."""
    if name == "StarsProblem":
        from .model.problem import StarsProblem

        return StarsProblem
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""The `invert tissue` application: blood oxygenation (sO2) from multispectral tissue reflectance.

The model, its data and its limits: docs/tissue.md.
"""

__all__ = ["TissueProblem"]


def __getattr__(name: str):
    """TissueProblem, imported on first use: it loads torch, which `invert tissue --help` does not need."""
    if name == "TissueProblem":
        from .problem import TissueProblem

        return TissueProblem
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

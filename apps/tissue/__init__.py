"""The `invert tissue` application: blood oxygenation (sO2) from multispectral tissue reflectance.

The model, its data and its limits: docs/tissue.md.
"""

from .problem import TissueProblem

__all__ = ["TissueProblem"]

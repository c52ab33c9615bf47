"""The `invert tissue` application: blood oxygenation (sO2) from multispectral tissue reflectance.

Forward model and verification numbers: shared/science/tissue.md.
"""

from .problem import TissueProblem

__all__ = ["TissueProblem"]

"""Command-line option types shared by the applications."""

from enum import Enum


class Method(str, Enum):
    """Posterior estimators: the maximum-likelihood cINN or the paper's MMD-trained INN."""

    cinn = "cinn"
    inn = "inn"

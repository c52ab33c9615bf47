"""invert.core: the domain-free engine (INN and cINN posteriors, bundles, summaries, diagnostics)."""

from .bundle import BundleError, load
from .estimator import TrainConfig, fit
from .importance import ImportancePosterior
from .nets import NetConfig
from .posterior import DensityPosterior, Posterior, PosteriorLike
from .problem import Problem
from .recoverability import recoverability
from .simulation import SimulationFileError, load_simulations, save_simulations, simulate_dataset, simulate_to_file
from .training import is_main_process

__all__ = [
    "fit",
    "load",
    "Posterior",
    "ImportancePosterior",
    "PosteriorLike",
    "DensityPosterior",
    "NetConfig",
    "TrainConfig",
    "BundleError",
    "Problem",
    "recoverability",
    "simulate_dataset",
    "simulate_to_file",
    "save_simulations",
    "load_simulations",
    "SimulationFileError",
    "is_main_process",
]

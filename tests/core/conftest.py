"""Shared fixtures: small trained posteriors on the 8-mode toy (trained once per test session)."""

import pytest

import invert.core as ic
from invert.core.toys import GaussianMixture8


@pytest.fixture(scope="session")
def gmm8():
    return GaussianMixture8()


@pytest.fixture(scope="session")
def gmm8_data(gmm8):
    return ic.simulate_dataset(gmm8, 20_000, seed=0)


@pytest.fixture(scope="session")
def gmm8_cinn(gmm8_data):
    x, y = gmm8_data
    return ic.fit(x, y, method="cinn", max_epochs=30, progress=False, seed=0)

"""invert.core.noise: counter-based normals are standard normal, independent, and addressed by (seed, row)."""

import numpy as np
import torch
from scipy import stats

from invert.core.noise import row_normals, row_seed


def test_draws_are_standard_normal_and_uncorrelated():
    z = row_normals(7, torch.arange(40), 2000, 5).numpy()
    flat = z.reshape(-1, 5)
    assert stats.kstest(flat[:, 0], "norm").pvalue > 1e-3
    assert abs(flat.mean()) < 0.01 and abs(flat.std() - 1) < 0.01
    assert np.abs(np.corrcoef(flat.T) - np.eye(5)).max() < 0.02  # between dimensions
    serial = z[0, :, 0]
    assert abs(np.corrcoef(serial[:-1], serial[1:])[0, 1]) < 0.08  # between successive draws
    row_means = z.mean(axis=(1, 2))
    assert abs(np.corrcoef(row_means[:-1], row_means[1:])[0, 1]) < 0.4  # neighbouring rows
    # the spread of 40 row means of 10^4 draws each is that of independent rows
    assert 0.5 < row_means.std() * np.sqrt(2000 * 5) < 1.5


def test_rows_are_addressed_by_seed_and_index():
    rows = torch.arange(10)
    whole = row_normals(0, rows, 30, 3)
    assert torch.equal(row_normals(0, torch.tensor([6, 4, 5]), 30, 3), whole[[6, 4, 5]])
    assert torch.equal(row_normals(0, rows, 12, 3)[:, :4], row_normals(0, rows, 4, 3))  # more draws extend a row
    assert not torch.equal(row_normals(1, rows, 30, 3), whole)
    assert not torch.equal(whole[0], whole[1])
    assert torch.equal(row_normals(2**63 + 5, rows, 4, 1), row_normals(2**63 + 5, rows, 4, 1))


def test_row_seeds_of_baseline_samplers_do_not_collide():
    seeds = {row_seed(s, r) for s in range(20) for r in range(20)}
    assert len(seeds) == 400 and all(0 <= v < 2**63 for v in seeds)
    assert torch.equal(row_normals(np.int64(3), torch.arange(2), 5, 2), row_normals(3, torch.arange(2), 5, 2))

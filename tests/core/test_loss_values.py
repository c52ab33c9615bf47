"""The INN's MMD and loss terms on several points in two dimensions against the formulas written out in plain
Python (Ardizzone et al. 2019 and their official toy code), and properties every MMD estimate must have."""

import math

import pytest
import torch

from invert.core.losses import (
    KERNELS_X,
    KERNELS_Z,
    gaussian_nll,
    imq_kernel,
    inverse_mmd_loss,
    latent_mmd_loss,
    mmd,
    output_likelihood_loss,
    reconstruction_loss,
    supervised_loss,
)

WIDTHS = (0.2, 0.5, 0.9, 1.3)  # h of the paper's 8-mode toy code: k = sum over h of h^2 / (h^2 + |u - v|^2)
P = [[0.0, 0.0], [1.0, 0.5], [-0.5, 2.0]]
Q = [[0.3, -1.0], [2.0, 1.0]]
TOL = 1e-12  # float64: the matrix-product distances agree with the plain sums to ~1e-15


def t(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def paper_kernel(u, v) -> float:
    """Inverse multiquadratic sum of the paper's code: sum over h of h^2 / (h^2 + |u - v|^2)."""
    d = sum((a - b) ** 2 for a, b in zip(u, v))
    return sum(h * h / (h * h + d) for h in WIDTHS)


def v_statistic(p, q, kernel=paper_kernel) -> float:
    """Biased MMD^2: means over all pairs, the i = j terms included, of k(p, p) + k(q, q) - 2 k(p, q)."""
    kpp = sum(kernel(a, b) for a in p for b in p) / len(p) ** 2
    kqq = sum(kernel(a, b) for a in q for b in q) / len(q) ** 2
    kpq = sum(kernel(a, b) for a in p for b in q) / (len(p) * len(q))
    return kpp + kqq - 2 * kpq


def u_statistic(p, q, kernel=paper_kernel) -> float:
    """Unbiased MMD^2: the within-sample means leave out the i = j terms."""
    kpp = sum(kernel(a, b) for i, a in enumerate(p) for j, b in enumerate(p) if i != j) / (len(p) * (len(p) - 1))
    kqq = sum(kernel(a, b) for i, a in enumerate(q) for j, b in enumerate(q) if i != j) / (len(q) * (len(q) - 1))
    kpq = sum(kernel(a, b) for a in p for b in q) / (len(p) * len(q))
    return kpp + kqq - 2 * kpq


def test_kernel_widths_are_the_papers():
    assert KERNELS_Z == KERNELS_X == tuple((h * h, 1.0) for h in WIDTHS)


def test_imq_kernel_on_a_distance_matrix():
    """Squared distances between P's points: the paper's kernel sum at each entry."""
    d = t([[sum((a - b) ** 2 for a, b in zip(u, v)) for v in P] for u in P])
    expected = t([[paper_kernel(u, v) for v in P] for u in P])
    torch.testing.assert_close(imq_kernel(d, KERNELS_Z), expected, atol=TOL, rtol=0)
    assert imq_kernel(t([[0.0]]), KERNELS_Z).item() == pytest.approx(len(WIDTHS))  # k(u, u) = 1 per width


def test_generalized_imq_kernel():
    """(C, a) = (0.2, 2), (1.5, 2), (3, 2) of the paper's other configurations: C^a (a / (C + d))^a."""
    scales = ((0.2, 2.0), (1.5, 2.0), (3.0, 2.0))
    for d in (0.0, 0.7, 4.0):
        expected = sum(c**a * (a / (c + d)) ** a for c, a in scales)
        assert imq_kernel(t([[d]]), scales).item() == pytest.approx(expected, abs=TOL)


def test_mmd_is_the_v_statistic():
    """Three points against two in two dimensions: the biased estimate, which differs clearly from the unbiased."""
    value = mmd(t(P), t(Q), KERNELS_Z).item()
    assert value == pytest.approx(v_statistic(P, Q), abs=TOL)
    assert abs(value - u_statistic(P, Q)) > 0.5  # the i = j terms, k(u, u) = 4, count in the biased one


def test_mmd_of_identical_samples():
    """Zero for the same sample in any order; a sample against one of its own points is not zero."""
    assert mmd(t(P), t(P[::-1]), KERNELS_Z).item() == pytest.approx(0.0, abs=TOL)
    assert mmd(t(P), t(P[:1]), KERNELS_Z).item() == pytest.approx(v_statistic(P, P[:1]), abs=TOL)
    assert v_statistic(P, P[:1]) > 0.1


def test_mmd_symmetric_and_translation_invariant():
    value = mmd(t(P), t(Q), KERNELS_Z).item()
    assert mmd(t(Q), t(P), KERNELS_Z).item() == pytest.approx(value, abs=TOL)
    shift = t([[3.0, -7.0]])
    assert mmd(t(P) + shift, t(Q) + shift, KERNELS_Z).item() == pytest.approx(value, abs=1e-10)


def test_mmd_grows_with_separation():
    """P against P shifted by s along (1, 1): strictly increasing in s, towards mean k(P, P) + mean k(P, P)."""
    p = t(P)
    values = [mmd(p, p + s, KERNELS_Z).item() for s in (0.0, 0.1, 0.5, 1.0, 3.0, 10.0)]
    assert values[0] == pytest.approx(0.0, abs=TOL)
    assert all(b > a for a, b in zip(values, values[1:]))
    limit = 2 * sum(paper_kernel(u, v) for u in P for v in P) / len(P) ** 2
    assert values[-1] < limit
    # heavy tails: at |d| ~ 2 * 10^2 the cross term is still about sum h^2 / 200 (a Gaussian kernel's would be 0)
    assert limit - values[-1] == pytest.approx(2 * sum(h * h for h in WIDTHS) / 200, rel=0.05)


def test_latent_mmd_loss_on_the_joint():
    """L_z: the MMD of the joint vectors [z, y_pred] and [z_prior, y], not the sum of the marginal MMDs."""
    z, y_pred, z_prior, y = [[0.0], [1.0], [-1.0]], [[0.5], [0.5], [2.0]], [[0.2], [-0.4]], [[0.5], [1.5]]
    joint_p = [a + b for a, b in zip(z, y_pred)]
    joint_q = [a + b for a, b in zip(z_prior, y)]
    value = latent_mmd_loss(t(z), t(y_pred), t(z_prior), t(y)).item()
    assert value == pytest.approx(v_statistic(joint_p, joint_q), abs=TOL)
    assert abs(value - v_statistic(z, z_prior) - v_statistic(y_pred, y)) > 0.05


def test_inverse_mmd_loss():
    """L_x: generated x (three points) against the training x (two points)."""
    assert inverse_mmd_loss(t(P), t(Q)).item() == pytest.approx(v_statistic(P, Q), abs=TOL)


def test_supervised_loss():
    """L_y: mean over every entry of [pad, y_pred - y] squared."""
    pad, y_pred, y = [[0.1, -0.2], [0.0, 0.3]], [[1.0], [2.5]], [[1.5], [2.0]]
    entries = [v for p, a, b in zip(pad, y_pred, y) for v in p + [a[0] - b[0]]]
    expected = sum(v * v for v in entries) / len(entries)
    assert supervised_loss(t(pad), t(y_pred), t(y)).item() == pytest.approx(expected, abs=TOL)


def test_reconstruction_loss():
    """Mean over rows of |x_rec - x|^2, over the width D."""
    x_rec, x, width = [[1.0, 0.5], [-1.0, 2.0], [0.0, 0.0]], [[0.0, 0.0], [1.0, 2.0], [0.3, -0.4]], 6
    expected = sum(sum((a - b) ** 2 for a, b in zip(r, s)) for r, s in zip(x_rec, x)) / len(x) / width
    assert reconstruction_loss(t(x_rec), t(x), width).item() == pytest.approx(expected, abs=TOL)


def test_gaussian_nll():
    """-log N(z; 0, I) - log|det J| without the constant, mean over rows, per dimension."""
    z, log_det = [[1.0, -2.0], [0.5, 0.0], [0.0, 3.0]], [0.2, -1.0, 0.7]
    rows = [0.5 * sum(v * v for v in r) - ld for r, ld in zip(z, log_det)]
    assert gaussian_nll(t(z), t(log_det)).item() == pytest.approx(sum(rows) / len(rows) / 2, abs=TOL)


def test_output_likelihood_loss():
    """z ~ N(0, 1), pad ~ N(0, s^2), y_pred ~ N(y, s^2): the Gaussian log-densities, constants and the log s
    terms dropped, minus log|det J|, mean over rows, per dimension of [z, pad, y]."""
    z, pad, y_pred, y, log_det, s = [[1.0], [-0.5]], [[0.05], [0.0]], [[1.2], [0.9]], [[1.0], [1.0]], [0.3, -0.1], 0.1
    rows = [
        0.5 * (zi[0] ** 2 + (pi[0] / s) ** 2 + ((a[0] - b[0]) / s) ** 2) - ld
        for zi, pi, a, b, ld in zip(z, pad, y_pred, y, log_det)
    ]
    loss = output_likelihood_loss(t(z), t(pad), t(y_pred), t(y), t(log_det), y_noise=s).item()
    assert loss == pytest.approx(sum(rows) / len(rows) / 3, abs=TOL)
    assert not math.isclose(loss, sum(rows) / len(rows))  # per dimension, not per row

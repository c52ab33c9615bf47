"""The MMD kernel and each training loss term against numbers worked out by hand on two or three points."""

import math

import pytest
import torch

from invert.core.losses import (
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


def t(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def k_default(d: float) -> float:
    """The INN's kernel sum of C / (C + d) over C = 0.2^2, 0.5^2, 0.9^2, 1.3^2, by hand."""
    return 0.04 / (0.04 + d) + 0.25 / (0.25 + d) + 0.81 / (0.81 + d) + 1.69 / (1.69 + d)


def test_imq_kernel_values():
    """C^a ((C + d) / a)^-a: with (C, a) = (1, 1) it is 1 / (1 + d), with (4, 2) it is 16 * 4 / (4 + d)^2."""
    d = t([[0.0, 1.0], [3.0, 8.0]])
    k = imq_kernel(d, ((1.0, 1.0), (4.0, 2.0)))
    expected = t([[1 + 64 / 16, 1 / 2 + 64 / 25], [1 / 4 + 64 / 49, 1 / 9 + 64 / 144]])
    torch.testing.assert_close(k, expected)
    assert imq_kernel(t([[0.0, 2.0]]), KERNELS_Z)[0].tolist() == pytest.approx([4.0, k_default(2.0)])


def test_mmd_by_hand():
    """p = {0, 1}, q = {0, 3} with k = 1 / (1 + |u - v|^2): mean k(p, p) = (1 + 1/2 + 1/2 + 1) / 4 = 0.75,
    mean k(q, q) = (1 + 1/10 + 1/10 + 1) / 4 = 0.55, mean k(p, q) = (1 + 1/10 + 1/2 + 1/5) / 4 = 0.45."""
    p, q = t([[0.0], [1.0]]), t([[0.0], [3.0]])
    assert mmd(p, q, ((1.0, 1.0),)).item() == pytest.approx(0.75 + 0.55 - 2 * 0.45)
    assert mmd(p, p, ((1.0, 1.0),)).item() == pytest.approx(0.0, abs=1e-15)
    assert mmd(q, p, ((1.0, 1.0),)).item() == pytest.approx(0.4)


def test_gaussian_nll():
    """Rows (0.5 * 5 - 0.5, 0.5 * 1 + 1) = (2, 1.5): mean 1.75 over 2 dimensions."""
    assert gaussian_nll(t([[1.0, 2.0], [0.0, 1.0]]), t([0.5, -1.0])).item() == pytest.approx(0.875)


def test_supervised_loss():
    """Residuals [pad, y_pred - y] = [[1, 1, 0], [0, 0, -2]]: squares sum to 6 over 6 entries."""
    pad, y_pred, y = t([[1.0], [0.0]]), t([[2.0, 0.0], [1.0, 1.0]]), t([[1.0, 0.0], [1.0, 3.0]])
    assert supervised_loss(pad, y_pred, y).item() == pytest.approx(1.0)


def test_latent_mmd_loss_trains_z_only():
    """One point each: [z, y_pred] = (0, 1) against [z_prior, y] = (1, 1), squared distance 1."""
    z, y_pred = t([[0.0]]).requires_grad_(), t([[1.0]]).requires_grad_()
    loss = latent_mmd_loss(z, y_pred, t([[1.0]]), t([[1.0]]))
    assert loss.item() == pytest.approx(4 + 4 - 2 * k_default(1.0))
    loss.backward()
    assert z.grad is not None and y_pred.grad is None


def test_inverse_mmd_loss():
    """Generated x = (0, 0) against x = (1, 1): squared distance 2."""
    assert inverse_mmd_loss(t([[0.0, 0.0]]), t([[1.0, 1.0]])).item() == pytest.approx(8 - 2 * k_default(2.0))


def test_reconstruction_loss():
    """Squared errors per row 1 + 4 and 9: mean 7, over width 4."""
    x_rec, x = t([[1.0, 2.0], [0.0, 0.0]]), t([[0.0, 0.0], [0.0, 3.0]])
    assert reconstruction_loss(x_rec, x, width=4).item() == pytest.approx(1.75)


def test_output_likelihood_loss():
    """With s = 0.1: [z, pad / s, (y_pred - y) / s] = [1, 2, 1]; 0.5 * 6 - 0.3 = 2.7 over 3 dimensions."""
    loss = output_likelihood_loss(t([[1.0]]), t([[0.2]]), t([[1.1]]), t([[1.0]]), t([0.3]), y_noise=0.1)
    assert loss.item() == pytest.approx(0.9)


def test_output_likelihood_loss_with_one_noise_per_y_dimension():
    """s = (0.1, 0.5) on y, the padding at sqrt(mean s^2) = sqrt(0.13): [z, pad / sqrt(0.13), 0.1 / 0.1, 1 / 0.5];
    with_log_s adds the log of each of the three scales, all over 4 dimensions."""
    z, pad, y_pred, y, log_det = t([[1.0]]), t([[0.2]]), t([[1.1, 2.0]]), t([[1.0, 1.0]]), t([0.3])
    s = torch.tensor([0.1, 0.5], dtype=torch.float64)
    nll = (0.5 * (1 + 0.04 / 0.13 + 1 + 4) - 0.3) / 4
    assert output_likelihood_loss(z, pad, y_pred, y, log_det, s).item() == pytest.approx(nll)
    log_s = (0.5 * math.log(0.13) + math.log(0.1) + math.log(0.5)) / 4
    loss = output_likelihood_loss(z, pad, y_pred, y, log_det, s, with_log_s=True).item()
    assert loss == pytest.approx(nll + log_s)

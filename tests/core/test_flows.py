"""Invertible blocks: exact inverses and log-determinants equal to autograd's Jacobian."""

import pytest
import torch

from invert.core.flows import ActNorm, AffineCoupling, ConditionalInvertibleNet, CouplingStack, InvertibleNet, Permutation


def _randomize(module: torch.nn.Module, scale: float = 0.5) -> None:
    """Give every parameter random values so the blocks are far from identity."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(scale * torch.randn(p.shape, generator=gen))


@pytest.mark.parametrize("dim,cond_dim", [(2, 0), (5, 0), (3, 4), (1, 3)])
def test_coupling_stack_inverts_and_log_det_matches_autograd(dim, cond_dim):
    stack = CouplingStack(dim, cond_dim, n_blocks=4, hidden=16, actnorm=True, seed=3)
    _randomize(stack, 0.2)
    stack.eval()
    gen = torch.Generator().manual_seed(0)
    v = torch.randn(64, dim, generator=gen)
    c = torch.randn(64, cond_dim, generator=gen) if cond_dim else None
    out, log_det = stack(v, c)
    assert (out - v).abs().max() > 0.1  # not the identity
    v_back, log_det_back = stack.inverse(out, c)
    torch.testing.assert_close(v_back, v, atol=1e-5, rtol=0)
    torch.testing.assert_close(log_det_back, -log_det, atol=1e-5, rtol=0)  # the inverse's log|det| at the same point

    for i in range(3):  # log|det J| against the autograd Jacobian, in float64
        vi = v[i : i + 1].double()
        ci = c[i : i + 1].double() if c is not None else None
        stack64 = stack.double()
        jac = torch.autograd.functional.jacobian(lambda u: stack64(u, ci)[0], vi).reshape(dim, dim)
        expected = torch.linalg.slogdet(jac).logabsdet
        assert abs(stack64(vi, ci)[1].item() - expected.item()) < 1e-8
        stack.float()


def test_soft_clamp_bounds_log_scale():
    block = AffineCoupling(4, alpha=2.0, hidden=8)
    with torch.no_grad():
        block.subnet[-1].bias.fill_(1e6)  # huge raw scales
    _, log_det = block(torch.zeros(3, 4))
    assert torch.all(log_det <= 2.0 * 2 + 1e-6)  # |s| < alpha per transformed feature


def test_new_network_starts_as_identity():
    net = CouplingStack(6, n_blocks=3, hidden=8)
    v = torch.randn(10, 6)
    out, log_det = net(v)
    assert torch.equal(torch.sort(out, 1).values, torch.sort(v, 1).values)  # only permuted
    assert torch.all(log_det == 0)


def test_permutation_and_actnorm_inverse():
    perm = Permutation(7, seed=2)
    v = torch.randn(5, 7)
    torch.testing.assert_close(perm.inverse(perm(v)[0])[0], v)
    act = ActNorm(7)
    out, _ = act(3 * v + 1)  # initialises from this batch
    torch.testing.assert_close(out.mean(0), torch.zeros(7), atol=1e-5, rtol=0)
    torch.testing.assert_close(act.inverse(out)[0], 3 * v + 1, atol=1e-5, rtol=0)


def test_inn_and_cinn_shapes_and_round_trip():
    inn = InvertibleNet(dx=3, dy=2, dz=2, width=6, n_blocks=3, hidden=16)
    _randomize(inn, 0.3)
    x = torch.randn(8, 3)
    out, _ = inn(inn.pad_x(x))
    z, pad, y = inn.split_out(out)
    assert z.shape == (8, 2) and pad.shape == (8, 2) and y.shape == (8, 2)
    padded_back = inn.stack.inverse(out)[0]
    torch.testing.assert_close(padded_back[:, :3], x, atol=1e-5, rtol=0)

    cinn = ConditionalInvertibleNet(dx=3, dy=20, summary_dim=4, n_blocks=3, hidden=16)
    _randomize(cinn, 0.3)
    y_long = torch.randn(8, 20)
    z, log_det = cinn(x, y_long)
    x_back, log_det_back = cinn.inverse(z, y_long)
    torch.testing.assert_close(x_back, x, atol=1e-5, rtol=0)
    torch.testing.assert_close(log_det_back, -log_det, atol=1e-5, rtol=0)

"""Invertible blocks: exact inverses and log-determinants equal to autograd's Jacobian."""

import pytest
import torch

from invert.core.flows import (
    ActNorm,
    AffineCoupling,
    ConditionalInvertibleNet,
    CouplingStack,
    InvertibleBlock,
    InvertibleNet,
    Permutation,
    SplineCoupling,
)

# Every InvertibleBlock, small: (name, constructor, dimension D, condition size dc or 0)
BLOCKS = [
    ("coupling", lambda: AffineCoupling(4, hidden=8), 4, 0),
    ("coupling-conditional", lambda: AffineCoupling(3, cond_dim=2, hidden=8), 3, 2),
    ("coupling-1d", lambda: AffineCoupling(1, cond_dim=2, hidden=8), 1, 2),
    ("spline-coupling", lambda: SplineCoupling(4, hidden=8), 4, 0),
    ("spline-coupling-conditional", lambda: SplineCoupling(3, cond_dim=2, hidden=8), 3, 2),
    ("spline-stack", lambda: CouplingStack(3, cond_dim=2, n_blocks=2, hidden=8, coupling="spline", seed=2), 3, 2),
    ("permutation", lambda: Permutation(5, seed=1), 5, 0),
    ("actnorm", lambda: ActNorm(3), 3, 0),
    ("stack", lambda: CouplingStack(4, n_blocks=2, hidden=8, actnorm=True, seed=2), 4, 0),
    ("stack-conditional", lambda: CouplingStack(3, cond_dim=2, n_blocks=2, hidden=8, seed=2), 3, 2),
    ("inn", lambda: InvertibleNet(dx=3, dy=1, dz=2, width=4, n_blocks=2, hidden=8), 4, 0),
    ("cinn", lambda: ConditionalInvertibleNet(dx=2, dy=3, n_blocks=2, hidden=8), 2, 3),
    (
        "cinn-summary",
        lambda: ConditionalInvertibleNet(dx=2, dy=5, summary_dim=2, summary_hidden=8, n_blocks=2, hidden=8),
        2,
        5,
    ),
]


def _randomize(module: torch.nn.Module, scale: float = 0.5) -> None:
    """Give every parameter random values so the blocks are far from identity."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(scale * torch.randn(p.shape, generator=gen))


def _block(make, dim: int, cond_dim: int) -> tuple[InvertibleBlock, torch.Tensor, torch.Tensor | None]:
    """A block with random parameters in float64, six random inputs v and conditions c (None without)."""
    block = make()
    _randomize(block, 0.3)
    block.eval().double()
    gen = torch.Generator().manual_seed(0)
    v = torch.randn(6, dim, generator=gen, dtype=torch.float64)
    return block, v, torch.randn(6, cond_dim, generator=gen, dtype=torch.float64) if cond_dim else None


def test_every_block_is_tested():
    assert set(InvertibleBlock.__subclasses__()) <= {type(make()) for _, make, _, _ in BLOCKS}


@pytest.mark.parametrize("name,make,dim,cond_dim", BLOCKS, ids=[b[0] for b in BLOCKS])
def test_block_contract(name, make, dim, cond_dim):
    """inverse(forward(v)) = v; log|det| per row equals autograd's, both ways; the inverse's is minus forward's."""
    block, v, c = _block(make, dim, cond_dim)
    out, log_det = block(v, c)
    assert out.shape == v.shape and log_det.shape == (len(v),)
    v_back, log_det_back = block.inverse(out, c)
    torch.testing.assert_close(v_back, v, atol=1e-10, rtol=0)
    torch.testing.assert_close(log_det_back, -log_det, atol=1e-10, rtol=0)
    for i in range(3):
        ci = None if c is None else c[i : i + 1]
        for f, point, expected in ((block.forward, v, log_det), (block.inverse, out, log_det_back)):
            jac = torch.autograd.functional.jacobian(lambda u: f(u, ci)[0], point[i : i + 1]).reshape(dim, dim)
            assert torch.linalg.slogdet(jac).logabsdet.item() == pytest.approx(expected[i].item(), abs=1e-9)


@pytest.mark.parametrize("name,make,dim,cond_dim", BLOCKS, ids=[b[0] for b in BLOCKS])
def test_block_gradients_reach_every_parameter(name, make, dim, cond_dim):
    """Both passes give every parameter, the input and the condition a nonzero gradient (through the outputs and the
    log-determinant)."""
    block, v, c = _block(make, dim, cond_dim)
    inputs = {"v": v.requires_grad_()} | ({} if c is None else {"c": c.requires_grad_()})
    for f in (block.forward, block.inverse):
        block.zero_grad(set_to_none=True)
        for t in inputs.values():
            t.grad = None
        out, log_det = f(v, c)
        (out.sin().sum() + log_det.sum()).backward()
        for param_name, p in [*block.named_parameters(), *inputs.items()]:
            assert p.grad is not None and p.grad.abs().sum() > 0, (f.__name__, param_name)


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
    padded_back = inn.inverse(out)[0]
    torch.testing.assert_close(padded_back[:, :3], x, atol=1e-5, rtol=0)
    torch.testing.assert_close(inn.inverse_x(z, y), inn.inverse(torch.cat([z, torch.zeros_like(pad), y], 1))[0][:, :3])

    cinn = ConditionalInvertibleNet(dx=3, dy=20, summary_dim=4, n_blocks=3, hidden=16)
    _randomize(cinn, 0.3)
    y_long = torch.randn(8, 20)
    z, log_det = cinn(x, y_long)
    x_back, log_det_back = cinn.inverse(z, y_long)
    torch.testing.assert_close(x_back, x, atol=1e-5, rtol=0)
    torch.testing.assert_close(log_det_back, -log_det, atol=1e-5, rtol=0)

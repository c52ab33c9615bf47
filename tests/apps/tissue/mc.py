"""A small, independent photon Monte Carlo for the diffuse reflectance of a layered slab (test helper, spec V8).

MCML-style weighted photons (Wang, Jacques & Zheng 1995), vectorised over photons in torch:
normal incidence from air (specular reflection removed from the launched weight), HG
scattering, implicit capture (weight *= albedo per interaction), Russian roulette below
weight 1e-4 with survival 0.1, unpolarised Fresnel reflection at the top and bottom
air boundaries with partial escape of the weight. One refractive index for all layers.
Only the depth z and the direction cosine uz are tracked: radially integrated Rd needs no more.
It shares no code with the adding-doubling solver on purpose.
"""

from __future__ import annotations

import math

import torch

W_ROULETTE, P_SURVIVE = 1e-4, 0.1


def _fresnel(n: float, cos_i: torch.Tensor) -> torch.Tensor:
    """Unpolarised Fresnel reflectance from tissue (index n) into air at incidence cosine cos_i."""
    sin_t2 = n**2 * (1.0 - cos_i**2)
    cos_t = torch.sqrt((1.0 - sin_t2).clamp(min=0.0))
    rs = ((n * cos_i - cos_t) / (n * cos_i + cos_t)) ** 2
    rp = ((n * cos_t - cos_i) / (n * cos_t + cos_i)) ** 2
    return torch.where(sin_t2 < 1.0, 0.5 * (rs + rp), torch.ones_like(cos_i))


def _hg_cos(g: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
    """Sample the cosine of the Henyey-Greenstein scattering angle."""
    frac = (1.0 - g**2) / (1.0 - g + 2.0 * g * xi)
    return ((1.0 + g**2 - frac**2) / (2.0 * g)).clamp(-1.0, 1.0)


def diffuse_reflectance(
    mu_a: list[float],
    mu_s: list[float],
    g: list[float],
    d_cm: list[float],
    n: float = 1.36,
    n_photons: int = 100_000,
    seed: int = 0,
) -> tuple[float, float]:
    """Rd (specular excluded) and its standard error for layers given top first; mu in 1/cm, d in cm.

    Runs single-threaded (restored afterwards): its many small per-event ops only lose to thread overhead.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run(mu_a, mu_s, g, d_cm, n, n_photons, seed)
    finally:
        torch.set_num_threads(threads)


def _run(
    mu_a: list[float], mu_s: list[float], g: list[float], d_cm: list[float], n: float, n_photons: int, seed: int
) -> tuple[float, float]:
    """The photon loop of `diffuse_reflectance`."""
    gen = torch.Generator().manual_seed(seed)
    f64 = torch.float64
    mu_t = torch.tensor(mu_a, dtype=f64) + torch.tensor(mu_s, dtype=f64)
    albedo = torch.tensor(mu_s, dtype=f64) / mu_t
    g_l = torch.tensor(g, dtype=f64)
    z_edges = torch.cat([torch.zeros(1, dtype=f64), torch.cumsum(torch.tensor(d_cm, dtype=f64), 0)])
    n_layers = len(mu_a)

    r_spec = ((n - 1.0) / (n + 1.0)) ** 2
    idx = torch.arange(n_photons)  # photon id, for per-photon tallies
    z = torch.zeros(n_photons, dtype=f64)
    uz = torch.ones(n_photons, dtype=f64)
    w = torch.full((n_photons,), 1.0 - r_spec, dtype=f64)
    layer = torch.zeros(n_photons, dtype=torch.long)
    s_left = torch.zeros(n_photons, dtype=f64)  # remaining dimensionless step
    tally = torch.zeros(n_photons, dtype=f64)

    while idx.numel():
        new = s_left <= 0.0
        s_left = torch.where(new, -torch.log(torch.rand(idx.numel(), generator=gen, dtype=f64)), s_left)
        mt = mu_t[layer]
        edge = torch.where(uz > 0, z_edges[layer + 1], z_edges[layer])
        to_edge = torch.where(uz != 0, (edge - z) / uz, torch.full_like(z, math.inf))
        hits = s_left / mt > to_edge
        # photons reaching a layer edge: move there, keep the rest of the step
        z = torch.where(hits, edge, z + uz * s_left / mt)
        s_left = torch.where(hits, s_left - to_edge * mt, torch.zeros_like(s_left))
        going_down = uz > 0
        outer = hits & (((layer == 0) & ~going_down) | ((layer == n_layers - 1) & going_down))
        inner = hits & ~outer
        layer = torch.where(inner, layer + torch.where(going_down, 1, -1), layer)
        # outer edge: the weight fraction (1 - R) escapes, the rest is reflected back
        refl = _fresnel(n, uz.abs())
        escaped_top = outer & ~going_down
        tally.index_add_(0, idx[escaped_top], (w * (1.0 - refl))[escaped_top])
        w = torch.where(outer, w * refl, w)
        uz = torch.where(outer, -uz, uz)
        # interaction: implicit capture, then HG scattering
        act = ~hits
        w = torch.where(act, w * albedo[layer], w)
        xi = torch.rand((2, idx.numel()), generator=gen, dtype=f64)
        cos_t = _hg_cos(g_l[layer], xi[0])
        sin_t = torch.sqrt((1.0 - cos_t**2).clamp(min=0.0))
        uz_new = uz * cos_t + torch.sqrt((1.0 - uz**2).clamp(min=0.0)) * sin_t * torch.cos(2 * math.pi * xi[1])
        uz = torch.where(act, uz_new.clamp(-1.0, 1.0), uz)
        # Russian roulette
        low = w < W_ROULETTE
        lucky = torch.rand(idx.numel(), generator=gen, dtype=f64) < P_SURVIVE
        w = torch.where(low, torch.where(lucky, w / P_SURVIVE, torch.zeros_like(w)), w)
        alive = w > 0
        idx, z, uz, w, layer, s_left = (v[alive] for v in (idx, z, uz, w, layer, s_left))
    return tally.mean().item(), (tally.std() / math.sqrt(n_photons)).item()

"""Batched adding-doubling radiative transfer for layered turbid slabs (Prahl's method), in torch.

Geometry: a laterally infinite stack of homogeneous layers (top first) between air above
and below, lit by a collimated beam at normal incidence. Output: the total diffuse
reflectance Rd (specular reflection at the top surface excluded).

Method (S. A. Prahl, "The adding-doubling method", in Optical-Thermal Response of
Laser-Irradiated Tissue, 1995; same choices as the MIT-licensed `iadpython`):

- N quadrature cosines nu per hemisphere: N/2 Gauss points on [0, nu_c] and N/2 Radau
  points on [nu_c, 1] (nu = 1 included), nu_c = cosine of the critical angle of the top layer.
- Henyey-Greenstein redistribution matrices h+ and h- from the delta-M truncated Legendre
  series of order N (Wiscombe 1977); albedo and optical thickness delta-M scaled.
- Each layer: diamond initialisation of a thin layer (thickness <= smallest nu), then doubling.
- Layers are added from the bottom boundary upwards, then the top air/tissue boundary.

All matrices are kept in the *symmetric* normalisation S = C^1/2 R C^1/2 with
C = diag(2 nu w): in it the adding and doubling equations are plain matrix products
(no star products), reciprocity makes layer matrices symmetric, and Fresnel boundaries
are the diagonal matrices diag(r), diag(1 - r).

The hot path is pure torch (float64, device-agnostic, vectorised over the batch);
only the fixed quadrature is built once with numpy.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["AddingDoubling", "quadrature", "fresnel_reflection"]


def _gauss(n: int, a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [a, b], ascending."""
    x, w = np.polynomial.legendre.leggauss(n)
    return 0.5 * (b - a) * x + 0.5 * (a + b), 0.5 * (b - a) * w


def _radau(n: int, a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Radau nodes and weights on [a, b] with the upper end b included, ascending."""
    coef = np.zeros(n + 1)
    coef[n - 1 :] = 1.0  # roots of (P_{n-1} + P_n)/(1 + x) are the free Radau nodes, plus x = -1
    t = np.sort(np.polynomial.legendre.legroots(coef).real)[1:]
    dp = np.polynomial.legendre.legval(t, np.polynomial.legendre.legder(np.eye(n)[n - 1]))
    x = np.concatenate([[-1.0], t])
    w = np.concatenate([[2.0 / n**2], 1.0 / ((1.0 - t) * dp**2)])
    # map x = -1 to the upper limit b, then sort ascending
    xs, ws = 0.5 * (a + b) - 0.5 * (b - a) * x, 0.5 * (b - a) * w
    order = np.argsort(xs)
    return xs[order], ws[order]


def quadrature(n_slab: float, quad_pts: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature cosines nu (ascending, last = 1) and weights w on [0, 1], split at the critical angle."""
    if quad_pts % 2 or quad_pts < 4:
        raise ValueError("quad_pts must be an even number >= 4")
    nu_c = math.sqrt(1.0 - 1.0 / n_slab**2) if n_slab > 1.0 else 0.0
    if nu_c == 0.0:
        return _radau(quad_pts, 0.0, 1.0)
    x1, w1 = _gauss(quad_pts // 2, 0.0, nu_c)
    x2, w2 = _radau(quad_pts // 2, nu_c, 1.0)
    return np.concatenate([x1, x2]), np.concatenate([w1, w2])


def fresnel_reflection(n_i: float, nu_i: torch.Tensor, n_t: float) -> torch.Tensor:
    """Unpolarised Fresnel reflectance from n_i into n_t at incidence cosine nu_i (1 beyond the critical angle)."""
    if n_i == n_t:
        return torch.zeros_like(nu_i)
    arg = 1.0 - (n_i / n_t) ** 2 * (1.0 - nu_i**2)
    nu_t = torch.sqrt(arg.clamp(min=0.0))
    r_par = ((n_t * nu_i - n_i * nu_t) / (n_t * nu_i + n_i * nu_t)) ** 2
    r_perp = ((n_i * nu_i - n_t * nu_t) / (n_i * nu_i + n_t * nu_t)) ** 2
    return torch.where(arg > 0.0, 0.5 * (r_par + r_perp), torch.ones_like(nu_i))


class AddingDoubling:
    """Diffuse reflectance of a layered slab in air, batched over (sample, wavelength) elements.

    n_top / n_bottom are the refractive indices of the top and bottom layer (air outside);
    index steps between layers are neglected (Fresnel < 1e-4 for tissue-like indices).
    """

    def __init__(self, n_top: float = 1.36, n_bottom: float = 1.36, quad_pts: int = 16) -> None:
        """Precompute the quadrature for `quad_pts` angles per hemisphere and the boundary Fresnel terms."""
        self.n_top, self.n_bottom, self.quad_pts = float(n_top), float(n_bottom), int(quad_pts)
        self.nu_np, self.w_np = quadrature(self.n_top, self.quad_pts)
        self._cache: dict[torch.device, dict[str, torch.Tensor]] = {}

    def _constants(self, device: torch.device) -> dict[str, torch.Tensor]:
        """Quadrature, Legendre polynomials and boundary matrices as float64 tensors on `device`."""
        if device not in self._cache:
            f64 = dict(dtype=torch.float64, device=device)
            nu, w = torch.tensor(self.nu_np, **f64), torch.tensor(self.w_np, **f64)
            n = self.quad_pts
            # P_k(nu_i) for k = 1..n-1, shape (n-1, n)
            legendre = np.stack([np.polynomial.legendre.legval(self.nu_np, np.eye(n)[k]) for k in range(1, n)])
            self._cache[device] = {
                "nu": nu,
                "w": w,
                "c_sqrt": torch.sqrt(2.0 * nu * w),  # sqrt of C = diag(2 nu w)
                "scale": torch.sqrt(w / nu),  # sqrt(w_i / nu_i): symmetric-form factor
                "legendre": torch.tensor(legendre, **f64),
                "r_top": fresnel_reflection(self.n_top, nu, 1.0),
                "r_bottom": fresnel_reflection(self.n_bottom, nu, 1.0),
                "eye": torch.eye(n, **f64),
            }
        return self._cache[device]

    def redistribution(self, g: torch.Tensor, k: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Delta-M Henyey-Greenstein redistribution h+ (same hemisphere) and h- (opposite), shape (B, N, N)."""
        n = self.quad_pts
        orders = torch.arange(1, n, dtype=torch.float64, device=g.device)
        g_n = g[:, None] ** n
        chi = (2 * orders + 1) * (g[:, None] ** orders - g_n) / (1 - g_n)  # (B, n-1)
        pp = k["legendre"][:, :, None] * k["legendre"][:, None, :]  # (n-1, N, N)
        sign = torch.where(orders % 2 == 0, 1.0, -1.0).to(torch.float64)
        h_plus = 1.0 + torch.einsum("bk,kij->bij", chi, pp)
        h_minus = 1.0 + torch.einsum("bk,kij->bij", chi * sign, pp)
        return h_plus, h_minus

    def diamond_start(
        self, a: torch.Tensor, d: torch.Tensor, h_plus: torch.Tensor, h_minus: torch.Tensor, k: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """R, T (symmetric form) of a thin layer of albedo a, optical thickness d by diamond initialisation."""
        s = k["scale"]
        weight = (a * d / 4.0)[:, None, None] * s[:, None] * s[None, :]
        r_hat = weight * h_minus
        a_mat = torch.diag_embed(1.0 + d[:, None] / (2.0 * k["nu"])) - weight * h_plus  # I + t_hat
        x = torch.linalg.solve(a_mat, r_hat)  # A^-1 r_hat
        h_inv = torch.linalg.inv(a_mat - r_hat @ x)
        return 2.0 * x @ h_inv, 2.0 * h_inv - k["eye"]

    @staticmethod
    def double(r: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """R, T of two identical symmetric layers stacked: T2 = T (I - R R)^-1 T, R2 = R + T R (I - R R)^-1 T."""
        eye = torch.eye(r.shape[-1], dtype=r.dtype, device=r.device)
        z = torch.linalg.solve(eye - r @ r, t)
        return r + (t @ r) @ z, t @ z

    def layer(
        self, mu_a: torch.Tensor, mu_s: torch.Tensor, g: torch.Tensor, d: torch.Tensor, k: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """R, T (symmetric form) of one homogeneous layer per batch element; mu in 1/cm, d in cm."""
        mu_t = mu_a + mu_s
        albedo = torch.where(mu_t > 0, mu_s / mu_t.clamp(min=1e-300), torch.zeros_like(mu_t))
        af = albedo * g**self.quad_pts
        a_dm, b_dm = albedo * (1 - g**self.quad_pts) / (1 - af), (1 - af) * mu_t * d
        # number of doublings so that the start layer is no thicker than the smallest cosine
        n_double = torch.ceil(torch.log2(b_dm.clamp(min=1e-300) / k["nu"][0])).clamp(min=0)
        # sort by doublings needed: the elements still to double always form a prefix of the batch
        n_double, order = torch.sort(n_double, descending=True)
        h_plus, h_minus = self.redistribution(g[order], k)
        r, t = self.diamond_start(a_dm[order], b_dm[order] * torch.exp2(-n_double), h_plus, h_minus, k)
        n_steps = int(n_double[0].item()) if n_double.numel() else 0
        steps = torch.arange(n_steps, device=n_double.device)
        still_doubling = (n_double[None, :] > steps[:, None]).sum(1).tolist()  # batch prefix length per step
        for m in still_doubling:
            r[:m], t[:m] = self.double(r[:m], t[:m])
        unsort = torch.empty_like(order)
        unsort[order] = torch.arange(len(order), device=order.device)
        return r[unsort], t[unsort]

    @staticmethod
    def add_on_top(r_layer: torch.Tensor, t_layer: torch.Tensor, r_below: torch.Tensor) -> torch.Tensor:
        """Reflection seen from above of a symmetric layer on a substrate: R = R1 + T1 (I - Rs R1)^-1 Rs T1."""
        eye = torch.eye(r_layer.shape[-1], dtype=r_layer.dtype, device=r_layer.device)
        v = torch.linalg.solve(eye - r_below @ r_layer, r_below @ t_layer)
        return r_layer + t_layer @ v

    def reflectance(self, mu_a: torch.Tensor, mu_s: torch.Tensor, g: torch.Tensor, d_cm: torch.Tensor) -> torch.Tensor:
        """Diffuse reflectance Rd (specular excluded) for a batch; inputs (B, L), layer 0 = top, mu in 1/cm, d in cm."""
        k = self._constants(mu_a.device)
        mu_a, mu_s, g, d_cm = (v.to(torch.float64) for v in (mu_a, mu_s, g, d_cm))
        r_sub = torch.diag_embed(k["r_bottom"]).expand(mu_a.shape[0], -1, -1)
        for i in reversed(range(mu_a.shape[1])):
            r_layer, t_layer = self.layer(mu_a[:, i], mu_s[:, i], g[:, i], d_cm[:, i], k)
            r_sub = self.add_on_top(r_layer, t_layer, r_sub)
        # top boundary: light enters along nu = 1 (last node), exits through diag(1 - r_top)
        r_top, t_top = k["r_top"], 1.0 - k["r_top"]
        eye = k["eye"]
        v = r_sub[:, :, -1] * t_top[-1]
        u = torch.linalg.solve(eye - r_sub * r_top[None, None, :], v)
        c_sqrt = k["c_sqrt"]
        return (u * t_top * c_sqrt).sum(-1) / c_sqrt[-1]

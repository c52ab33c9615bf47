"""Reference reflectance from iadpython's own building blocks (a test helper, also used by the benchmarks).

iadpython (S. Prahl, MIT) is an optional test dependency; it is imported only when this is called.
Its layered path assumes symmetric boundaries, so the layers are combined here with full asymmetric
adding, exactly as our torch solver does (docs/tissue.md).
"""

from __future__ import annotations

import copy
from typing import Sequence


def iadpython_rd(
    mu_a: Sequence[float],
    mu_s: Sequence[float],
    g: Sequence[float],
    d_cm: Sequence[float],
    n: Sequence[float] = (1.36, 1.36, 1.36),
    quad_pts: int = 16,
) -> float:
    """Diffuse reflectance Rd (specular excluded) of a slab with layers given top first, air above and below."""
    import iadpython as iad

    a = [s / (s + m) for s, m in zip(mu_s, mu_a)]
    b = [(s + m) * d for s, m, d in zip(mu_s, mu_a, d_cm)]
    sample = iad.Sample(a=a[0], b=b[0], g=g[0], n=n[0], n_above=1, n_below=1, quad_pts=quad_pts)
    sample.update_quadrature()
    mats = []
    for ai, bi, gi in zip(a, b, g):
        layer = copy.deepcopy(sample)
        layer.a, layer.b, layer.g = ai, bi, gi
        mats.append(iad.simple_layer_matrices(layer))
    r, t = mats[0]
    r_up, t_up = r, t
    for ri, ti in mats[1:]:
        r, r_up, t, t_up = iad.add_layers(sample, r, r_up, t, t_up, ri, ri, ti, ti)
    r02, r20, t02, t20 = iad.add_slide_above(sample, *iad.boundary_layer(sample, top=True), r, r_up, t, t_up)
    bottom = copy.deepcopy(sample)
    bottom.n = n[-1]  # Fresnel of the bottom layer; same quadrature (iadpython uses n only there)
    bottom.nu, bottom.twonuw = sample.nu, sample.twonuw
    r03, _, t03, _ = iad.add_slide_below(sample, r02, r20, t02, t20, *iad.boundary_layer(bottom, top=False))
    return sample.UX1_and_UXU(r03, t03)[0] - ((n[0] - 1) / (n[0] + 1)) ** 2

"""The band rule of every reader: a file's bands must be the model's bands, no fewer and no more.

A file band matches a model band within BAND_TOLERANCE_NM. A scan that lacks a model band, or has a band the
model does not know, ends with one InputError line naming the missing and the extra bands and the model's:
a model cannot use a band it was not trained on, and a scan from another camera must not be guessed at.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...kit.errors import InputError

__all__ = ["BAND_TOLERANCE_NM", "match_bands", "nm"]

BAND_TOLERANCE_NM = 1.0


def nm(bands: Sequence[float]) -> str:
    """Wavelengths as written in messages: '470, 480, 511'."""
    return ", ".join(f"{float(b):g}" for b in bands)


def match_bands(
    name: str, file_bands: Sequence[float], model_bands: Sequence[float], where: str, hint: str = ""
) -> tuple[int, ...]:
    """For each model band, the position of its file band; InputError naming the missing and extra bands (where:
    where the file's bands are listed, e.g. '--bands' or 'its header'; hint: said when bands are missing) or two file
    bands for one model band."""
    found = np.asarray(file_bands, dtype=float)
    index: list[int] = []
    missing = []
    for b in model_bands:
        near = np.flatnonzero(np.abs(found - b) <= BAND_TOLERANCE_NM)
        if near.size > 1:
            raise InputError(
                f"{name}: {where} lists {near.size} bands within {BAND_TOLERANCE_NM:g} nm of the model's {b:g} nm band "
                f"({nm(found[near])} nm)"
            )
        if near.size == 0:
            missing.append(b)
        else:
            index.append(int(near[0]))
    shared = sorted({i for i in index if index.count(i) > 1})
    if shared:
        raise InputError(
            f"{name}: {where} band {nm(found[shared])} nm is within {BAND_TOLERANCE_NM:g} nm of two of the model's "
            f"bands; each file band must match one model band (the model needs {nm(model_bands)} nm)"
        )
    extra = [found[i] for i in range(len(found)) if i not in index]
    if missing or extra:
        what = [f"missing {nm(missing)} nm" if missing else "", f"extra {nm(extra)} nm" if extra else ""]
        raise InputError(
            f"{name}: the bands in {where} do not match the model's ({'; '.join(w for w in what if w)}); the model "
            f"needs exactly {nm(model_bands)} nm (a scan from another camera needs a model made for that camera)"
            + (f"; {hint}" if hint and missing else "")
        )
    return tuple(index)

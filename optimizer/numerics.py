"""Warnings about numerically risky inputs: coefficient ranges wide enough to hurt the solver."""

from __future__ import annotations

import numpy as np

from optimizer.model.lp import FAMILIES, Formulation

#: Warn when the largest and smallest non-zero magnitudes of one kind differ by more than this.
MAX_RANGE = 1e9


def _name(form: Formulation, col: int) -> str:
    for name, fam in form.lp.vars.items():
        if fam.first <= col < fam.first + len(fam.entity):
            family = FAMILIES.get(name)
            if family is None or family.entities is None:
                return name
            what, kind = family.cost_words or name, family.entities
            entity = getattr(form.data, kind)[int(fam.entity[col - fam.first])]
            return f"{what} of {entity}"
    return f"column {col}"


def coefficient_warnings(form: Formulation) -> list[str]:
    """Warnings naming the fields behind the extreme objective and constraint coefficients."""
    lp = form.lp
    c = np.concatenate(lp.cost) if lp.cost else np.zeros(0)
    warnings = []
    nz = np.flatnonzero(np.abs(c) > 0)
    if len(nz):
        mags = np.abs(c[nz])
        hi, lo = nz[np.argmax(mags)], nz[np.argmin(mags)]
        if mags.max() / mags.min() > MAX_RANGE:
            warnings.append(
                f"objective coefficients span {mags.min():.3g} ({_name(form, lo)}) to {mags.max():.3g} "
                f"({_name(form, hi)}), a range over {MAX_RANGE:.0e}: check units (e.g. $/kg against tonnes) "
                "and penalties; results may be inaccurate"
            )
    # extremes per block of triplets, without concatenating the whole matrix again (memory at large)
    extremes = []
    for cols, vals in zip(lp.a_col, lp.a_val):
        mags = np.abs(vals)
        if len(mags):
            extremes.append((mags.max(), cols[np.argmax(mags)], mags.min(), cols[np.argmin(mags)]))
    if extremes and max(e[0] for e in extremes) / min(e[2] for e in extremes) > MAX_RANGE:
        top = max(extremes, key=lambda e: e[0])
        bottom = min(extremes, key=lambda e: e[2])
        mags = np.array([top[0], bottom[2]])
        hi, lo = top[1], bottom[3]
        warnings.append(
            f"constraint coefficients span {mags.min():.3g} (on {_name(form, lo)}) to {mags.max():.3g} "
            f"(on {_name(form, hi)}), a range over {MAX_RANGE:.0e}: check yields, budgets and units"
        )
    return warnings

"""Shared test helpers: tiny scenarios as dicts, solved through the public API."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
from hypothesis import settings

# `make test` and CI run the same examples every time (a red run is reproducible, a green one is not
# luck); HYPOTHESIS_PROFILE=explore draws new examples on each run to hunt for counter-examples.
settings.register_profile("default", derandomize=True, print_blob=True, deadline=None)  # shared, loaded CI machines
settings.register_profile("explore", derandomize=False, print_blob=True, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

ROOT = Path(__file__).resolve().parents[1]


def scenario(**overrides) -> dict:
    """A one-material, one-source scenario; keyword arguments replace top-level fields."""
    base = {
        "name": "tiny",
        "home_country": "US",
        "horizon": {"start": "2026-01", "periods": 3, "period": "month"},
        "materials": [{"id": "dy", "demand": 10, "shortfall_penalty": 1000}],
        "sources": [{"id": "us", "material": "dy", "region": "domestic", "country": "US", "price": 10}],
    }
    out = copy.deepcopy(base)
    out.update(copy.deepcopy(overrides))
    return out


@pytest.fixture
def root() -> Path:
    return ROOT

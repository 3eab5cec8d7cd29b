"""End-to-end smoke test through the Python API."""

import optimizer
from conftest import scenario


def test_single_source_buys_demand_every_period():
    """3 months, demand 10, one domestic source at $10, no storage: buy 10 each month, cost 300."""
    sol = optimizer.solve(scenario())
    assert sol.status == "optimal"
    assert abs(sol.objective - 300.0) < 1e-9
    assert sol.purchases["quantity"].tolist() == [10.0, 10.0, 10.0]

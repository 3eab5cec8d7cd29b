"""An extension: no more than 40 % of all rare-earth spend may go to one country.

Run it with `optimize scenarios/china-embargo.yaml --extension docs/extensions/ree_country_cap.py`
or `optimizer.solve(scenario, extension="docs/extensions/ree_country_cap.py")`. The rule holds in
every scenario, over the whole horizon, on the money paid at the order's landed cost (an order a
ban `on: arrival` stops is not paid).
"""

import pyomo.environ as pyo

RARE_EARTHS = {"dysprosium", "terbium", "ndpr"}
MAX_SHARE = 0.4


def extend(model, data):
    """model: the labelled Pyomo model (optimizer.build_model); data: its optimizer.data.ModelData."""
    material_of = {source: data.materials[m] for source, m in zip(data.sources, data.src_material)}
    country_of = dict(zip(data.sources, data.src_country))
    orders = [key for key in model.buy if material_of[key[0]] in RARE_EARTHS]
    countries = sorted({country_of[source] for source, _, _ in orders})

    def spend(scenario, country=None):
        """Money paid for rare-earth orders in a scenario (from one country, or from all) [$]."""
        return sum(model.landed[s, t, k] * model.delivered[s, t, k] * model.buy[s, t, k]
                   for s, t, k in orders if k == scenario and (country is None or country_of[s] == country))

    def share_max(m, scenario, country):
        if not any(k == scenario and country_of[s] == country for s, _, k in orders):
            return pyo.Constraint.Skip
        return spend(scenario, country) <= MAX_SHARE * spend(scenario)

    model.ree_country_share = pyo.Constraint(model.SCENARIOS, countries, rule=share_max,
                                             doc="rare-earth spend from one country <= 40 % of all of it [$]")

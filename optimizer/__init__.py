"""Critical-mineral procurement and stockpile planning: scenario YAML -> LP (Pyomo) -> HiGHS -> plan."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mineral-stockpile-optimizer")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+local"

from optimizer.errors import ScenarioError  # noqa: E402
from optimizer.pipeline import load_scenario, solve  # noqa: E402
from optimizer.results import Solution  # noqa: E402
from optimizer.solve import SolverOptions  # noqa: E402

__all__ = ["load_scenario", "solve", "Solution", "SolverOptions", "ScenarioError", "__version__"]

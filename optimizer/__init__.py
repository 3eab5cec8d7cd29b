"""Critical-mineral procurement and stockpile planning: scenario YAML -> LP (Pyomo) -> HiGHS -> plan."""

from optimizer.errors import ScenarioError
from optimizer.pipeline import build_model, load_scenario, solve, solve_model
from optimizer.solve import SolverOptions

__all__ = ["build_model", "load_scenario", "solve", "solve_model", "Solution", "SolverOptions", "ScenarioError",
           "__version__"]


def __getattr__(name: str):
    """`Solution` and `__version__` on first use: importing the first imports pandas, which `optimize`
    does while HiGHS solves (pipeline.import_output_stage), and reading package metadata costs ~30 ms."""
    if name == "Solution":
        from optimizer.results import Solution

        return Solution
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("mineral-stockpile-optimizer")
        except PackageNotFoundError:  # running from a source tree without installation
            return "0.0.0+local"
    raise AttributeError(f"module 'optimizer' has no attribute {name!r}")

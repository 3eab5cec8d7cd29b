"""Critical-mineral procurement and stockpile planning: scenario YAML -> LP (Pyomo) -> HiGHS -> plan."""

import sys
import types

__all__ = ["build_model", "load_scenario", "solve", "solve_model", "Solution", "SolverOptions", "ScenarioError",
           "__version__"]

_LAZY = {
    "build_model": "optimizer.pipeline",
    "load_scenario": "optimizer.pipeline",
    "solve_model": "optimizer.pipeline",
    "Solution": "optimizer.results",
    "SolverOptions": "optimizer.solve",
    "ScenarioError": "optimizer.errors",
}


def __getattr__(name: str):
    """The public names on first use: importing the package stays cheap, so the `optimize` process
    handles Ctrl-C before NumPy, pandas and HiGHS load (optimizer.entry); package metadata for
    `__version__` (~30 ms) is read only when asked."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("mineral-stockpile-optimizer")
        except PackageNotFoundError:  # running from a source tree without installation
            return "0.0.0+local"
    raise AttributeError(f"module 'optimizer' has no attribute {name!r}")


class _Package(types.ModuleType):
    """`optimizer.solve` is the function `pipeline.solve`, although a submodule has that name too: the
    import system records each loaded submodule as an attribute of the package, which would replace
    the function by the module once `optimizer.solve` (the module) is imported."""

    @property
    def solve(self):
        from optimizer.pipeline import solve

        return solve

    @solve.setter
    def solve(self, _module) -> None:
        pass  # the submodule stays reachable as sys.modules["optimizer.solve"]


sys.modules[__name__].__class__ = _Package

"""Plain facts about the code's structure (issue 13), checked by reading the package's source."""

from __future__ import annotations

import ast
import re

from conftest import ROOT

PACKAGE = ROOT / "optimizer"
#: Every method of highspy.Highs the tool calls; none may appear outside the solver boundary.
HIGHS_METHODS = ("passModel", "startSolve", "changeColsCost", "changeColsBounds", "changeRowsBounds",
                 "changeCoeff", "getIis", "getPrimalRay", "getSolution", "getBasis", "setBasis", "getRanging",
                 "getInfo", "getModelStatus", "setOptionValue", "clearSolver", "cancelSolve")


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(ROOT).as_posix(), path.read_text()


def imported(text: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_the_solver_boundary_names_highspy():
    """No module but optimizer/solve.py imports highspy or calls a method of a Highs object."""
    offenders = []
    for name, text in modules():
        if name == "optimizer/solve.py":
            continue
        if any(m.split(".")[0] == "highspy" for m in imported(text)):
            offenders.append(f"{name} imports highspy")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in HIGHS_METHODS:
                offenders.append(f"{name}:{node.lineno} calls .{node.func.attr}")
    assert not offenders, offenders


def test_status_strings_live_in_one_table():
    """HiGHS's model status names (kOptimal, ...) appear only in the solver boundary."""
    offenders = [name for name, text in modules() if name != "optimizer/solve.py" and re.search(r"\bk(Optimal|"
                 r"Infeasible|Unbounded|TimeLimit|Interrupt)\b", text)]
    offenders += [f"{name}: status text {text_!r}" for name, text in modules() if name != "optimizer/solve.py"
                  for text_ in re.findall(r"[\"'](?:infeasible_or_unbounded|iteration_limit)[\"']", text)]
    assert not offenders, offenders


def test_export_does_not_import_results():
    """The writer works from the schema; results may call the writer, never the other way round."""
    text = (PACKAGE / "export.py").read_text()
    assert not any(m.startswith("optimizer.results") for m in imported(text))


def test_result_tables_follow_the_one_schema():
    """Every table a solve produces has exactly the schema's columns, in order, sorted by its keys."""
    import optimizer
    from conftest import scenario
    from optimizer.schema import TABLES

    sol = optimizer.solve(scenario(materials=[{"id": "dy", "demand": 10, "shortfall_penalty": 1000,
                                               "stockpile": {"target": 2, "target_penalty": 5}}]))
    for name, schema in TABLES.items():
        df = sol.tables[name]
        if len(df):
            assert list(df.columns) == schema.column_names, name
            keys = list(schema.keys)
            assert df[keys].astype(str).apply(tuple, axis=1).tolist() == sorted(
                df[keys].astype(str).apply(tuple, axis=1).tolist()), name

# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
SCENARIO ?= scenarios/baseline.yaml

.PHONY: run test bench questions plausibility bytecode clean report-shots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

# Bytecode for the package: an editable install has none, and where PYTHONDONTWRITEBYTECODE is set
# every run would compile the sources again (~50 ms of a medium solve's ~0.6 s overhead).
bytecode: $(STAMP)
	$(PY) -m compileall -q optimizer

run: $(STAMP) bytecode
	$(VENV)/bin/optimize $(SCENARIO)

test: $(STAMP) bytecode
	$(PY) -m pytest -q -n 2

# The seed questions of issue 19: every counterfactual pair solved, scenarios/ANSWERS.md written
# (under a minute; not part of `make test`).
questions: $(STAMP) bytecode
	$(PY) scenarios/questions.py

# Every shipped scenario against the cited figures of scenarios/data/production.csv (issue 19 item 5):
# findings and warnings on stderr; tests/test_plausibility.py requires no plausibility finding.
plausibility: $(STAMP) bytecode
	@for f in scenarios/*.yaml; do $(VENV)/bin/optimize validate $$f --plausibility || exit 1; done

bench: $(STAMP) bytecode
	$(PY) benchmarks/run.py

# Screenshots of every shipped scenario's report (headless Chromium), for reviewers: docs/report-shots/.
report-shots: $(STAMP) bytecode
	$(PY) docs/report-shots/make_shots.py

clean:
	rm -rf $(VENV) results .pytest_cache .hypothesis

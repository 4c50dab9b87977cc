# DefectFinder set-up targets. `make run` reproduces the paper figures, `make test` runs the test suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]*_*.ipynb))

.PHONY: venv run test unit nbval library bench clean-generated

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

venv: $(VENV)/.installed

# The main job: execute every notebook in order in the paper profile, outputs written in place,
# figures to results/figures/, metrics to results/metrics/.
run: venv
	@for nb in $(NOTEBOOKS); do \
	  echo "== $$nb"; \
	  DEFECTFINDER_PROFILE=$${DEFECTFINDER_PROFILE:-paper} $(PY) -m jupyter nbconvert --to notebook \
	    --execute --inplace --ExecutePreprocessor.timeout=-1 "$$nb" || exit 1; \
	done

# The test command: unit tests and nbval over the notebooks in the ci profile.
test: venv
	DEFECTFINDER_PROFILE=ci $(PY) -m pytest

unit: venv
	DEFECTFINDER_PROFILE=ci $(PY) -m pytest tests

nbval: venv
	DEFECTFINDER_PROFILE=ci $(PY) -m pytest notebooks

# Re-simulate the shipped library (about 30 minutes on 2 cores); replaces data/library/*.h5.
library: venv
	$(PY) -m helpers.library.files both --overwrite

bench: venv
	$(PY) benchmarks/bench_simulation.py
	$(PY) benchmarks/bench_movie.py
	$(PY) benchmarks/bench_classifier.py
	$(PY) benchmarks/bench_analysis.py

clean-generated:
	rm -rf data/generated

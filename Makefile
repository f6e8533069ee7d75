# The KAM analysis kit. `make reports` renders the pack on the sample; `make test` runs everything CI runs.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
CONFIG ?= configs/sample.yaml
# numbers do not depend on the thread count; keep BLAS from oversubscribing 2 cores
export OPENBLAS_NUM_THREADS ?= 1
export OMP_NUM_THREADS ?= 1
export PYDEVD_DISABLE_FILE_VALIDATION = 1

.PHONY: install reports test unit nbval notebooks lab bench sample clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

reports: install
	$(BIN)/kam report --config $(CONFIG)

test: unit nbval

unit: install
	$(BIN)/python -m pytest tests -n 2 -q

nbval: install
	$(BIN)/python -m pytest --nbval --nbval-current-env notebooks -q -p no:cacheprovider

notebooks: install
	$(BIN)/python -m kamtools.report refresh

sample: install
	$(BIN)/kam sample --out data/sample

lab: install
	$(BIN)/jupyter lab notebooks

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) reports/*/ .pytest_cache

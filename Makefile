# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= runs/demo
DATA   ?= ../shared/datasets

.PHONY: install demo test lint clean

# torch==2.13.0 is the CPU wheel on this machine's disk; installing it first (and passing the constraints
# file to every install) keeps pip from pulling a multi-GB CUDA build for the package's torch range.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e ".[dev,bench]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/anomalyforge bench --suite demo --detectors auto,iforest,pca,knn,lof,ocsvm,elliptic,zscore,genias_carla \
		--param genias_carla.time_budget=20 --data-root $(DATA) --out $(OUT) --workers 2

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache

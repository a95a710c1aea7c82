# Two commands on a fresh machine (see README.md):
#   make demo   set up, then run the embedded toy default end to end
#   make test   set up, then run the test suite
# Set-up: a virtualenv in .venv with torch pinned to the CPU wheel of this kind of machine
# (TORCH_SPEC=torch==2.13.0; on a GPU cluster pass e.g. TORCH_SPEC='torch>=2.4'), then the
# package with its test extras.

VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
CORES ?= $(shell nproc)
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: demo test setup clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[test]"
	touch $@

setup: $(VENV)/.installed

demo: $(VENV)/.installed
	snakemake --cores $(CORES) --keep-going --printshellcmds
	@echo "report: reports/report.html  figures: reports/figures/  tables: results/tables/"

test: $(VENV)/.installed
	python -m pytest -ra

clean:
	rm -rf results reports/figures reports/report.html .snakemake

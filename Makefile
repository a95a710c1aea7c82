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

.PHONY: demo test setup clean toy-encoders bench

# Bytecode is compiled once here, on every core (pip would compile on one), for the package too
# (an editable install has none): with PYTHONDONTWRITEBYTECODE=1, as on these machines, every job
# would otherwise compile what it imports.  Left out: test suites of the dependencies and the
# Hugging Face model classes xstilts does not build (they compile when imported, if ever).
NOCOMPILE := /(tests?|transformers/models/(?!xlm_roberta/|auto/)[^/]+)/
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-compile "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet --disable-pip-version-check --no-compile -e ".[test]"
	$(PY) -m compileall -q -j 0 -x '$(NOCOMPILE)' $(VENV)/lib > /dev/null || true  # as pip: skips files for newer Pythons
	$(PY) -m compileall -q -j 0 src
	touch $@

setup: $(VENV)/.installed

demo: $(VENV)/.installed
	snakemake --cores $(CORES) --keep-going --rerun-incomplete
	@echo "report: reports/report.html  figures: reports/figures/  tables: results/tables/"

test: $(VENV)/.installed
	python -m pytest -ra

# The speed benchmarks (benchmarks/README.md): each prints its ratio against a baseline measured
# in the same run as its last line; a few minutes on 2 cores (toy data made once in .bench/).
BENCHES := bench_eval bench_train bench_job bench_dag
bench: $(VENV)/.installed
	@for b in $(BENCHES); do echo "== $$b"; python benchmarks/$$b.py > .bench-$$b.log 2>&1 \
	  || { tail -20 .bench-$$b.log; exit 1; }; grep -v '^  (setting up' .bench-$$b.log; done
	@echo "== ratios"; for b in $(BENCHES); do tail -1 .bench-$$b.log; done

# Refresh the pretrained toy encoders shipped in src/xstilts/toy/encoders/ after changing the toy
# world, tokenizer, a toy architecture or the MLM recipe in config/config.yaml (minutes per model).
toy-encoders: $(VENV)/.installed
	snakemake --cores $(CORES) results/tokenizers/toy/tokenizer.json
	xstilts toy-encoders --config config/config.yaml --clean

clean:
	rm -rf results reports/figures reports/report.html .snakemake .bench .bench-*.log

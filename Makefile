# dln-companion: two entry points for a fresh machine with Python 3.11 and make.
#   make book   builds the whole book into _build/html (venv, pinned deps, papermill, Jupyter Book)
#   make test   runs every test (library, notebooks via nbval, the built HTML in headless Chromium)
# Everything after `pip install` runs offline (MathJax is served from book/_static).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: book test test-lib venv browser-deps bench clean lint

venv: $(STAMP)

$(STAMP): constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q pip==26.3 setuptools==84.2.1 wheel==0.48.0
	$(BIN)/python -m pip install -q --no-build-isolation -c constraints.txt -e ".[book,test,scale]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

# Execute every chapter with its default parameters (cached: unchanged chapters are skipped),
# then render with warnings as errors.
book: venv
	MPLBACKEND=agg $(BIN)/python -m dlnlib execute
	$(BIN)/jupyter-book build . -W -n --keep-going
	@echo "book: open _build/html/index.html"

# Debian's chromium + chromedriver for the browser test (installed once, as root or with sudo).
browser-deps:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver; }

# All tests: lint, library + CLI, nbval over every executed chapter, the built HTML in headless Chromium.
test: lint book browser-deps
	MPLBACKEND=agg DLN_FIGURES_DIR=$(CURDIR)/_build/nbval-figures \
	  $(BIN)/python -m pytest tests book/chapters --nbval-lax --nbval-current-env -p no:cacheprovider

test-lib: venv
	$(BIN)/python -m pytest tests -m "not book and not browser"

# Benchmarks. bench_scale.py compares with jax and torch, which live only in a separate benchmark
# environment (.venv-bench, pinned in benchmarks/requirements-bench.txt), never in the library's dependencies.
BENCH_VENV  := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed

$(BENCH_STAMP): constraints.txt pyproject.toml benchmarks/requirements-bench.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q pip==26.3 setuptools==84.2.1 wheel==0.48.0
	$(BENCH_VENV)/bin/python -m pip install -q --no-build-isolation -c constraints.txt -e ".[scale]"
	$(BENCH_VENV)/bin/python -m pip install -q -c constraints.txt -r benchmarks/requirements-bench.txt
	touch $@

bench: venv $(BENCH_STAMP)
	$(BIN)/python benchmarks/bench_flow.py
	$(BIN)/python benchmarks/bench_hessian.py
	$(BIN)/python benchmarks/bench_stepsize.py
	$(BENCH_VENV)/bin/python benchmarks/bench_scale.py

lint: venv
	$(BIN)/ruff check dlnlib tests benchmarks tools/nbgen.py book/src

clean:
	rm -rf _build book/chapters figures runs

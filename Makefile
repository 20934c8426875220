# tabaug_ray: `make demo` and `make test` work on a machine with nothing installed but Python 3.11.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEPS_HASH := $(shell cat pyproject.toml | sha256sum | cut -c1-16)
DEPS_STAMP := $(VENV)/.deps-$(DEPS_HASH)
EDITABLE_STAMP := $(VENV)/.editable-$(shell echo "$(CURDIR)" | sha256sum | cut -c1-16)
PYTEST_ARGS ?=
# two pytest-xdist workers, one module at a time each: the suite's Ray runs leave a core idle while
# they start (imports, ray.init ~7 s, cold workers); measured 1,460 -> 1,250 s on 2 cores
TEST_WORKERS ?= 2

.PHONY: install chromium demo test bench results-reports check-results clean

install: $(EDITABLE_STAMP)

# Dependencies are reinstalled only when pyproject.toml changes. torch is pinned to the CPU build
# (an unpinned torch pulls a multi-GB CUDA build); setuptools<81 keeps TPOT importable.
$(DEPS_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip "setuptools<81" wheel
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -m pip install -q --no-deps anonymeter==1.0.0  # its numpy<1.27 cap would downgrade numpy; see pyproject.toml
	rm -f $(VENV)/.deps-* $(VENV)/.editable-*
	touch $(DEPS_STAMP) $(EDITABLE_STAMP)

# A venv shared between checkouts (CI) only needs this checkout installed in editable mode.
$(EDITABLE_STAMP): $(DEPS_STAMP)
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.editable-*
	touch $(EDITABLE_STAMP)

DEMO_OUT ?= out/demo

# The demo answers the question on bundled data (no download): VAE-BGM Low data vs AVG, DRS and two
# baseline generators (experiments/demo.toml), then MLDA vs noise and no augmentation
# (experiments/demo_mlda.toml); `tabaug demo` runs both and renders both reports in one Ray session;
# each report opens with its Verdict, also printed here.
demo: install
	$(VENV)/bin/tabaug demo --out $(DEMO_OUT)

# Headless Chromium for the report's screenshot test (tests/test_report_screenshot.py); installed
# only when missing (Debian / Ubuntu; sudo unless root).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	@test -x /usr/bin/chromium || { $(SUDO) apt-get update -qq >/dev/null && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

test: install chromium
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

bench: install
	for script in benchmarks/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

# Every committed report re-rendered from its packed table (results-reports) or checked byte for
# byte against a fresh render in a scratch copy (check-results).
results-reports: install
	$(PY) scripts/results_reports.py

check-results: install
	$(PY) scripts/results_reports.py --check

clean:
	rm -rf $(VENV) build *.egg-info

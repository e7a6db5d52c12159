# Two commands: `make demo` and `make test`.  Each does all of the set-up itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
FMNIST_DIR := /usr/share/datasets/fashion-mnist
export HYPOTHESIS_PROFILE ?= ci

.PHONY: all demo test lint typecheck pytest profiles data venv bench clean

all: test

# The virtual environment with the project (editable) and every extra.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[keras,plot,test,dev,torch,jax,h5]"
	touch $@

venv: $(STAMP)

# Fashion-MNIST from Debian's dataset-fashion-mnist, installed when missing and we can
# (as root, or with password-less sudo).  Otherwise say so; data tests then skip with a reason.
data:
	@if [ -f $(FMNIST_DIR)/train-images-idx3-ubyte.gz ]; then \
	  echo "Fashion-MNIST: $(FMNIST_DIR)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then \
	  sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	else \
	  echo "NOTE: Fashion-MNIST is not installed and cannot be installed here (not root, no sudo)."; \
	  echo "      Run 'sudo apt-get install dataset-fashion-mnist' or set FASHION_MNIST_DIR."; \
	fi

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# pytest exits 5 when it ran no test: make treats that as a failure, as it should.
# REFIMPL_REQUIRE_KERAS=1: a parity test that would skip for a missing or broken
# TensorFlow/Keras install fails instead (tests/conftest.py).
pytest: $(STAMP) data
	REFIMPL_REQUIRE_KERAS=1 $(PY) -m pytest -p no:cacheprovider

# The project as users install it: build the sdist and the wheel, `twine check` them,
# install the wheel into fresh virtual environments (no extra; plot; keras) and run the
# commands each allows -- and the one-line "install the extra" errors for the others.
# A pytest module (one failure per profile and command, shared fixtures), kept out of
# the everyday pytest run by its `install` marker.
profiles: $(STAMP)
	$(PY) -m pytest -p no:cacheprovider -m install tests/test_install_profiles.py

test: lint typecheck pytest profiles

# The lesson, shortened to finish in a few minutes on 2 cores; the command prints where
# the report is and how to run the full lesson.
demo: $(STAMP) data
	$(PY) -m refimpl.cli tutorial --epochs 2 --limit 12000 --out demo-report
	@echo "(lr-refimpl is .venv/bin/lr-refimpl)"

bench: $(STAMP)
	$(PY) benchmarks/schedules.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

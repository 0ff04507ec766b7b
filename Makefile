# kube-pmix: set-up, demo, tests and benchmarks.
# `make demo` and `make test` are all a fresh machine needs.

# The virtual environment is made from the system Python so that the
# unprivileged pod user of the local cluster can run what it installs.
PYTHON_BASE ?= /usr/bin/python3
VENV        := .venv
PY          := $(VENV)/bin/python
PYTEST_ARGS ?=

.DEFAULT_GOAL := all
include mk/cluster.mk
include mk/guard.mk
include mk/entries.mk
include mk/front.mk
include mk/prrte-k8sgo.mk
include mk/k8s.mk
include mk/fuse-plugin.mk

.PHONY: all deps system-deps venv demo test unit bench lint clean

all: venv

system-deps:
	bash scripts/install-system-deps.sh
	bash scripts/setup-rootless-podman.sh

$(VENV)/.installed: pyproject.toml
	$(PYTHON_BASE) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# compat mode: a plain path entry instead of an import hook, ~20 ms less per tool start
	$(PY) -m pip install -q -e '.[dev,mpi]' --config-settings editable_mode=compat
	touch $@

# The C guard is part of the venv: kubexec-guard has no Python entry point;
# the C front replaces pip's `kubexec` (mk/front.mk).
# Byte-compiled sources: an editable install compiles nothing, and the pods'
# unprivileged user cannot write __pycache__ in the checkout, so without this
# every kubexec and wrap-container start in a pod compiles its modules again
# (~11 ms of wrap-container's ~25). Cheap when nothing changed (a stat per file).
venv: $(VENV)/.installed guard entries front
	$(PY) -m compileall -q launchers wrap kube_pmix bench

deps: system-deps venv

# The separated model's image is built as the pod user, on the base image and
# the wheelhouse (mk/cluster.mk), which are made for that user first. The pods
# run the PRRTE with plm/k8sgo (make prrte-k8sgo).
demo: deps wheelhouse prrte-k8sgo
	$(MAKE) --no-print-directory base-image BASE_IMAGE_USER=mpiuser
	$(VENV)/bin/kube-pmix demo

# The launchers' suites run first, in random order (pytest-random-order: modules and the
# tests in each shuffled; the seed is in the header and in the failure summary,
# `make test RANDOM_ORDER_SEED=N` repeats it), so
# a test that passes only after another (a master left running) shows; then the rest.
RANDOM_ORDER_TESTS := tests/unit/launchers tests/integration/kubexec
# drawn once (`:=`): the run and its failure summary must name the same seed
ifndef RANDOM_ORDER_SEED
RANDOM_ORDER_SEED := $(shell python3 -c 'import random; print(random.randrange(1000000))')
endif

test: deps checkov-venv prrte-k8sgo k8s fuse-plugin
	mkdir -p test-results
	$(PY) -m pytest -ra --random-order-seed=$(RANDOM_ORDER_SEED) --junitxml=test-results/junit-random-order.xml \
		$(RANDOM_ORDER_TESTS) $(PYTEST_ARGS); first=$$?; \
	$(PY) -m pytest -ra --junitxml=test-results/junit.xml \
		$(addprefix --ignore=,$(RANDOM_ORDER_TESTS)) $(PYTEST_ARGS); rest=$$?; \
	[ $$first -eq 0 ] && [ $$rest -eq 0 ] || { \
		echo "== what failed (random-order seed $(RANDOM_ORDER_SEED)) =="; \
		python3 scripts/junit-failures.py test-results/junit-random-order.xml \
			test-results/junit.xml; exit 1; }

unit: venv
	$(PY) -m pytest -ra tests/unit $(PYTEST_ARGS)

bench: deps prrte-k8sgo k8s
	$(PY) -m bench

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) test-results .pytest_cache .mypy_cache

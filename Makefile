# mpiml: every target creates/uses the venv in $(VENV); nothing needs a system MPI.
SHELL   := /bin/bash
PYTHON  ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
MPIEXEC := $(VENV)/bin/mpiexec
NP      ?= 4
# Bound every MPI launch: a hang fails instead of stalling (seconds).
export MPIEXEC_TIMEOUT ?= 900
PYTEST  := $(PY) -m pytest -p no:cacheprovider
MPI_PYTEST := $(PY) -m mpi4py -m pytest -p no:cacheprovider --with-mpi --timeout=300 --timeout-method=thread -q

.PHONY: help venv deps run run-ibm1 test test-unit test-mpi test-e2e test-slurm test-multihost bench bench-kmeans bench-ibm1 bench-mf bench-lbfgs bench-lasso bench-ckpt bench-lda clean

help:
	@echo "make run    - install into $(VENV), train K-means on $(NP) ranks on data/blobs.csv, inspect the checkpoint"
	@echo "make test   - unit tests, MPI tests at 1/2/3/4 ranks, end-to-end CLI tests"
	@echo "make test-slurm - start a private single-node Slurm (installs slurm-wlm/munge as root) and run the jobscripts"
	@echo "make test-multihost - MPI across emulated hosts (network namespaces, as root)"
	@echo "make bench  - benchmarks that print figures"

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && $(PYTHON) -m venv $(VENV); \
	  else echo "python3 -m venv failed: install python3-venv (Debian) and retry" >&2; exit 1; fi; }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[mpich,test,bench,plot]'
	@touch $@

venv: $(VENV)/.installed

# Optional system tools used by tests: h5dump (Debian hdf5-tools) checks the
# checkpoint master is readable by the HDF5 1.10 command-line tools.
deps:
	@if command -v h5dump >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing hdf5-tools (h5dump) for the checkpoint-compatibility test"; \
	  apt-get update -qq && apt-get install -y -qq hdf5-tools >/dev/null; \
	else echo "note: h5dump not found and not root: its test will be skipped (apt-get install hdf5-tools)"; fi

run: venv
	rm -rf runs/kmeans-demo
	$(MPIEXEC) -n $(NP) $(PY) -m mpi4py -m mpiml train kmeans --data data/blobs.csv --k 6 --seed 1 \
	    --checkpoint-dir runs/kmeans-demo --checkpoint-every 5 --log runs/kmeans-demo.jsonl
	$(VENV)/bin/mpiml inspect runs/kmeans-demo

run-ibm1: venv
	mkdir -p runs && rm -rf runs/ibm1-demo
	$(MPIEXEC) -n $(NP) $(PY) -m mpi4py -m mpiml train ibm1 --source data/corpus.e --target data/corpus.f \
	    --checkpoint-dir runs/ibm1-demo --align-out runs/ibm1-demo.align \
	    --export-ttable 3 --ttable-out runs/ibm1-demo.tsv --log runs/ibm1-demo.jsonl
	$(VENV)/bin/mpiml eval-aer --gold data/corpus.gold --predicted runs/ibm1-demo.align
	$(VENV)/bin/mpiml plan ibm1 --ranks 4,64 --source data/corpus.e --target data/corpus.f

test: venv deps test-unit test-mpi test-e2e

test-unit: venv
	$(PYTEST) -q --timeout=600 tests/unit

test-mpi: venv
	@for n in 1 2 3 4; do \
	  echo "== tests/mpi on $$n rank(s)"; \
	  $(MPIEXEC) -n $$n $(MPI_PYTEST) tests/mpi || exit 1; \
	done

test-e2e: venv
	$(PYTEST) -q --timeout=900 tests/e2e

# Real sbatch jobs on a private one-node Slurm (scripts/slurm/start.sh installs
# slurm-wlm and munge when missing, as root; stops its daemons afterwards).
test-slurm: venv
	timeout 2400 $(PYTEST) -v --timeout=1500 --timeout-method=thread --basetemp=/tmp/mpiml-slurm-tests tests/slurm

# MPI jobs across 2 emulated hosts (network namespaces + veth + bridge; needs
# root, skipped with the reason otherwise). iproute2 is installed when missing.
test-multihost: venv
	@command -v ip >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -qq && apt-get install -y -qq iproute2 >/dev/null; } || true
	timeout 600 $(PYTEST) -v --timeout=300 --timeout-method=thread tests/multihost

bench: bench-kmeans bench-ibm1 bench-mf

bench-kmeans: venv
	$(VENV)/bin/mpiml bench kmeans

bench-ibm1: venv
	$(PY) benchmarks/ibm1_kernel.py --plan 2 4 8 64
	$(VENV)/bin/mpiml bench ibm1

bench-lasso: venv
	$(VENV)/bin/mpiml bench lasso

bench-mf: venv
	$(PY) benchmarks/mf_kernel.py
	$(VENV)/bin/mpiml bench mf

bench-ckpt: venv
	$(VENV)/bin/mpiml bench ckpt --gib 1 --ranks 1,2

bench-lda: venv
	$(VENV)/bin/mpiml bench lda

bench-lbfgs: venv
	$(VENV)/bin/mpiml bench linear --solver lbfgs

clean:
	rm -rf runs build *.egg-info

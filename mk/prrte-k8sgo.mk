# PRRTE + OpenPMIx with our plm/k8sgo and ess/k8sgo (plm_k8sgo/), built from
# Debian's openmpi source package into a prefix under build/.
# Included from the main Makefile.
#
#   make prrte-k8sgo    fetch (apt, private config), unpack, autogen, build, install;
#                       a second run with nothing changed costs a few hashes
#
# The script is run every time: it alone knows what each stage was made from
# (version, configure flags, the overlay's files and content) and redoes only
# what changed; make's timestamps would miss a file deleted from the overlay.
# The end-to-end tests (tests/e2e/test_prrte_k8sgo*.py) run the result.

OPENMPI_SRC_VERSION ?= 5.0.7-1
OPENMPI_SRC_RELEASE ?= trixie
PRRTE_K8SGO_BUILD   ?= build/prrte-k8sgo
PRRTE_K8SGO_PREFIX  := $(PRRTE_K8SGO_BUILD)/install
PRRTE_K8SGO_JOBS    ?= 2

.PHONY: prrte-k8sgo

prrte-k8sgo:
	@OPENMPI_SRC_VERSION='$(OPENMPI_SRC_VERSION)' SRC_RELEASE='$(OPENMPI_SRC_RELEASE)' \
	    JOBS='$(PRRTE_K8SGO_JOBS)' bash scripts/build-prrte-k8sgo.sh '$(PRRTE_K8SGO_BUILD)' plm_k8sgo
	@touch $(PRRTE_K8SGO_BUILD)/.stamp

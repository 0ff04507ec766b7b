# kubexec-guard, the in-pod guard of every kubexec session (sources in guard/).
# Included from the main Makefile, which defines VENV.
#
#   make guard    compile it and install it as $(VENV)/bin/kubexec-guard
#
# `make venv` runs it after pip: the local cluster's pods use the host venv, so
# that is where kubexec finds the guard. pip has no entry point of that name
# (pyproject.toml), so `pip install -e` never overwrites it; the venv's stamp is
# an order-only prerequisite, so pip runs first, and if a reinstall removed an
# older Python `kubexec-guard` the file is missing and installed again.
# The images compile the same file (images/pmix-base/Containerfile).

GUARD_SRC    := guard/kubexec-guard.c
GUARD_BUILD  ?= build/guard
GUARD_CFLAGS ?= -O2 -std=gnu11 -Wall -Wextra -Werror

.PHONY: guard

guard: $(VENV)/bin/kubexec-guard

$(GUARD_BUILD)/kubexec-guard: $(GUARD_SRC)
	mkdir -p $(@D)
	$(CC) $(GUARD_CFLAGS) -o $@ $<

# install(1) replaces the file rather than writing into it: pods may be running it
$(VENV)/bin/kubexec-guard: $(GUARD_BUILD)/kubexec-guard | $(VENV)/.installed
	install -m 0755 $< $@

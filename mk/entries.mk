# Lean entry points for the tools started once per rank or per daemon.
# Included from the main Makefile, which defines VENV and PY.
#
#   make entries    rewrite wrap-container and kubexec-py as `python -IS` scripts
#
# pip's console scripts pay for `site` (~6 ms a start here); scripts/fast-entry.py
# says why and what the lean script keeps. pip rewrites its scripts on every
# install, so the stamp depends on the venv's: a reinstall is followed by this.

# kubexec itself is the C front (mk/front.mk), which execs kubexec-py
FAST_ENTRIES := wrap-container wrap.cli:main kubexec-py launchers.kubexec.cli:main

.PHONY: entries

entries: $(VENV)/.entries

$(VENV)/.entries: $(VENV)/.installed scripts/fast-entry.py mk/entries.mk
	$(PY) scripts/fast-entry.py $(VENV)/bin $(FAST_ENTRIES)
	touch $@

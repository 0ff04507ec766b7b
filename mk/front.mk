# kubexec's C front (guard/kubexec-front.c), installed as $(VENV)/bin/kubexec.
# Included from the main Makefile after mk/guard.mk, whose flags and build folder it uses.
#
#   make front    compile it and install it over pip's `kubexec` script
#
# pip writes `kubexec` (the Python entry point, kept so that an install without
# a compiler still works) and `kubexec-py`, which the front execs for every call
# it does not hand to a control master. pip rewrites its scripts on every
# install, so the front depends on the venv's stamp: a reinstall is followed by
# the front again. The images compile the same file (images/pmix-base/Containerfile).

FRONT_SRC := guard/kubexec-front.c

.PHONY: front

front: $(VENV)/bin/kubexec

$(GUARD_BUILD)/kubexec-front: $(FRONT_SRC)
	mkdir -p $(@D)
	$(CC) $(GUARD_CFLAGS) -o $@ $<

# install(1) replaces the file rather than writing into it: launchers may be running it
$(VENV)/bin/kubexec: $(GUARD_BUILD)/kubexec-front $(VENV)/.installed
	install -m 0755 $< $@

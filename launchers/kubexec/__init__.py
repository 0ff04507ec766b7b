"""`kubexec`, the ssh-compatible rsh agent over the Kubernetes exec API.

    cli       the entry point: picks the control master or the direct path
    direct    the direct path: one process, one exec connection, one select loop
    output    kubexec's bounded stdout/stderr buffers
    sshopts   ssh's command line, parsed the way ssh would
    control/  the per-user control master (KUBEXEC_CONTROL_PERSIST) and its client

Nothing is imported here: the entry point's cost is what cli.py imports.
"""

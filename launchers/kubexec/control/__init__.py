"""kubexec's control master (as ssh's ControlMaster/ControlPersist).

    client   the caller's side: find or start the master, hand it this call's stdio
    master   the per-user master: forks one child per call, which runs the direct path

guard/kubexec-front.c is the client again, in C, for the installed `kubexec`.
"""

"""`python -m launchers.kubexec`: the same as the `kubexec-py` program."""

from launchers.kubexec.cli import main

main()

"""`python -m kube_pmix` is the `kube-pmix` command."""

from kube_pmix.cli import main

main()

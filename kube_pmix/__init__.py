"""kube-pmix: PMIx-enabled MPI jobs in Kubernetes pods, rootless, one container per rank."""

__version__ = "0.1.0"

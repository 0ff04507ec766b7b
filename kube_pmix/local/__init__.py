"""The local cluster: a Kubernetes-API-compatible server whose pods are Linux namespaces.

Entry points: `kube-pmix local ...` (cli.py) and `kube_pmix.local.cluster.Cluster`.
See README.md in this folder.
"""

"""The k8sgo launch script: one process that starts every `prted` of a job.

PRRTE's `plm/k8sgo` execs `k8sgo-launcher [-q] -f HOSTFILE -- PRTED ARGV...`
once per job. Layout (ClusterShell's split): `hostfile` parses, `fanout` is the
engine (one semaphore bounding set-ups, signals, teardown), `transports/` each
know how to start one remote process, and only `cli` prints and exits.
"""

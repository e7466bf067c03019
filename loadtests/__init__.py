"""Locust scenarios with chat SLOs, shared by SREs and the operator's rollout gate."""

"""Helpers every test tier imports as plain code (`from tests.helpers.net import free_port`): test modules
cannot import each other under importlib mode, and a helper that is only a fixture cannot be called from a
helper class or at import time. pytest puts the repository root on sys.path (`pythonpath` in
pyproject.toml), which makes this package importable. Fixtures stay in the conftest.py files."""

"""Prompt template files: their schema, validation and selection, plus the shipped templates (*.yaml here).

In the root package so the chat service (which serves them) and the operator (which checks an app's prompt
ConfigMap before rolling it out) apply the same rules without importing each other.
"""

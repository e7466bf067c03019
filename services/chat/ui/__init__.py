"""The dependency-free chat UI served at GET /."""

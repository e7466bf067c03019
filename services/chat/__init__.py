"""The chat service every ChatApplication runs: API, UI, orchestration, retrieval, LLM router, telemetry."""

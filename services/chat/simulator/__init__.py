"""Local Azure OpenAI simulator: realistic timing, quotas and faults with extractive, cited answers."""

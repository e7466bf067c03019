"""The ChatApplication operator: spec model, pure render core, kopf handlers and the gated rollout."""

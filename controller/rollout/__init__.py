"""The gated rollout: a pure state machine, load-test runners behind one interface, and their verdicts."""

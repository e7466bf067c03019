"""What the kopf decorators in main.py delegate to: reconcile, drift repair, gate polling."""

"""Pipelines: several library steps run end to end (the demo)."""

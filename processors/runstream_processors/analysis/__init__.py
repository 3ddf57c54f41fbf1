"""Analyses computed from what the store holds (evaluation, importance, ...)."""

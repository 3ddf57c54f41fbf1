"""Analyses computed from the store: parameter importance, offline evaluation."""

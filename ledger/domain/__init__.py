"""Aggregates: one module per concept, explicit nested event classes."""

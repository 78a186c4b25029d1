"""Adapters at the edges: they translate between technologies and the core, never decide."""

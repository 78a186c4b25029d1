"""The runtime owns the engine state, merges readings and ticks, and applies effects."""

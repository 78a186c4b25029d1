"""The pure core: readings and clock ticks in, decisions out. No I/O, no clock, no threads."""

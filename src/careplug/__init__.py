"""careplug: smart care plug monitoring for people who live alone."""

__version__ = "0.1.0"

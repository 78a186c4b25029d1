"""Notifiers: one module per delivery channel. They deliver or raise ``DeliveryError``."""

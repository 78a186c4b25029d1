"""The caseworker console and its JSON API (FastAPI, server-rendered pages, no build step)."""

from careplug.adapters.web.app import ConsoleSettings, create_app
from careplug.adapters.web.server import ConsoleServer, serve_in_thread

__all__ = ["ConsoleServer", "ConsoleSettings", "create_app", "serve_in_thread"]

"""Task Dashboard's web application: engine, store, API and realtime hub."""

__version__ = "0.1.0"

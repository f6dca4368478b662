"""The desktop side of Task Dashboard: server thread, native window launcher and CLI."""

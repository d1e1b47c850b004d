"""The version of modelport (read by the build and reported by the server)."""

__version__ = "0.1.0"

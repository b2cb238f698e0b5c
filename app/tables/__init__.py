"""Faust tables and the code that reads them."""

from app.tables import counts  # noqa: F401

"""HTTP views, served by every worker through Faust's web server."""

from app.web import health, stats  # noqa: F401

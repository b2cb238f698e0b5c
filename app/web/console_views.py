"""The web console: ``/`` and ``/ui/`` serve one page that searches, follows and counts.

A client that does not ask for HTML on ``/`` gets Elasticsearch's version
document instead (:mod:`app.web.elastic_views`). The page is plain HTML,
CSS and JavaScript kept in ``app/web/console/`` and served by every worker
from the installed package: no build step, no CDN, nothing fetched from the
internet at run time. It speaks only to the public
API (query, tail, stats, dead letters), with the API key the user typed kept
in the browser's session storage and sent as ``X-API-Key``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from faust import web

from app.domain.protocols.elastic_probes import version_document
from app.web.base import ServiceView
from app.web.elastic_views import es_json

CONSOLE_DIR: Final = Path(__file__).resolve().parent / "console"


class Console(ServiceView):
    """The console for a browser; Elasticsearch's version document for a client that does not ask for HTML (the
    Elasticsearch clients ask ``GET /`` which version they talk to before they send a bulk request)."""

    async def get(self, request: web.Request) -> web.Response:
        if request.url.path == "/" and "text/html" not in request.headers.get("Accept", ""):
            return es_json(version_document(self.settings.app_id, self.settings.elastic_version))
        response = self.html((CONSOLE_DIR / "index.html").read_text())
        response.headers["Cache-Control"] = "no-cache"
        return response

"""The web console: ``/`` and ``/ui/`` serve one page that searches, follows and counts.

The page is plain HTML, CSS and JavaScript kept in ``app/web/console/`` and
served by every worker from the installed package: no build step, no CDN,
nothing fetched from the internet at run time. It speaks only to the public
API (query, tail, stats, dead letters), with the API key the user typed kept
in the browser's session storage and sent as ``X-API-Key``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from faust import web

CONSOLE_DIR: Final = Path(__file__).resolve().parent / "console"


class Console(web.View):
    async def get(self, request: web.Request) -> web.Response:
        response = self.html((CONSOLE_DIR / "index.html").read_text())
        response.headers["Cache-Control"] = "no-cache"
        return response

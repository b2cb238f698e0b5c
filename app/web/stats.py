"""``GET /api/v1/stats``: live counts from the count table, answered locally by any worker."""

from __future__ import annotations

from faust import web

from app.app import app
from app.tables.counts import current_stats


@app.page("/api/v1/stats")
class Stats(web.View):
    async def get(self, request: web.Request) -> web.Response:
        return self.json(current_stats())

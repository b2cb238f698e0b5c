"""``GET /metrics`` (and the Java system's ``/actuator/prometheus``): Prometheus exposition."""

from __future__ import annotations

from faust import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


class Metrics(web.View):
    async def get(self, request: web.Request) -> web.Response:
        return self.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

"""The base of every logpipe view: the services of the app the view is registered on."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from aiohttp import web as aioweb
from faust import web

from app.settings import Settings

if TYPE_CHECKING:
    from app.app import LogpipeApp
    from app.services import Services


class ServiceView(web.View):
    """A Faust view that reaches the worker's services through its app, never through a module global."""

    @property
    def services(self) -> Services:
        return cast("LogpipeApp", self.app).services

    @property
    def settings(self) -> Settings:
        return cast("LogpipeApp", self.app).settings


def raw(request: web.Request) -> aioweb.Request:
    """aiohttp's request under Faust's (the aiohttp driver hands views aiohttp's own)."""
    return cast(aioweb.Request, request)

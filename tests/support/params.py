"""Query parameters as the app's parsers take them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import cast

from multidict import MultiDict

from app.domain.query import Params


def query_params(pairs: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> Params:
    """A multi-dict (a name may repeat), as aiohttp hands ``request.query`` to a view.

    Cast as ``app.web`` casts ``request.query``: multidict's overloaded
    ``getall`` does not match the :class:`Params` protocol's one signature.
    """
    return cast(Params, MultiDict(pairs))

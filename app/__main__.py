"""``python -m app worker`` runs a worker, like ``faust -A app.app worker``."""

from __future__ import annotations


def main() -> None:
    from app.ops import runtime
    from app.settings import get_settings

    runtime.use_event_loop(get_settings().event_loop)
    from app.app import app

    app.main()


if __name__ == "__main__":
    main()

"""``python -m app worker`` runs a worker, like ``faust -A app.app worker``."""

from __future__ import annotations


def main() -> None:
    from app.app import app

    app.main()


if __name__ == "__main__":
    main()

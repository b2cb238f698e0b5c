"""``python -m app.cli``: the ``logpipe`` command."""

from app.cli.main import main

if __name__ == "__main__":
    main()

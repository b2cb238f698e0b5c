"""What tests share: servers' clients, workers, events, waiting with deadlines. Fixtures live in conftest.py.

No test module imports another; a helper two test modules need lives here,
in the module named for what it is.
"""

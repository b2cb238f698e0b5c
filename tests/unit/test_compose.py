"""compose/ is deployable as written: healthchecks, ordering, secrets, files, scrape targets.

There is no Docker engine here, so the file is checked, not run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from app.agents.log_rules import read_rules

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((COMPOSE / "docker-compose.yml").read_text())
    return loaded


def workers() -> dict[str, Any]:
    """Every service built from this repository or named ``worker-*``."""
    return {name: svc for name, svc in compose()["services"].items() if "build" in svc or name.startswith("worker-")}


def test_every_service_has_a_healthcheck_and_waits_for_healthy_dependencies() -> None:
    services = compose()["services"]
    assert {"kafka", "postgres", "redis", "prometheus", "grafana"} <= services.keys()
    for name, service in services.items():
        assert "healthcheck" in service and service["healthcheck"]["test"], f"{name} has no healthcheck"
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert condition == {"condition": "service_healthy"}, f"{name} -> {dependency}"
            assert dependency in services


def test_kafka_is_apache_kafka_in_kraft_mode() -> None:
    kafka = compose()["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_secrets_are_required_not_defaulted() -> None:
    text = (COMPOSE / "docker-compose.yml").read_text()
    for secret in ("POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "LOGPIPE_API_KEYS"):
        assert f"${{{secret}:?" in text
        assert f"${{{secret}:-" not in text


def test_referenced_files_exist() -> None:
    for name, service in compose()["services"].items():
        build = service.get("build")
        if build:
            assert (COMPOSE / build["context"] / build.get("dockerfile", "Dockerfile")).is_file(), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE / source).exists(), f"{name}: {source} is missing"


def test_dockerfile_runs_as_non_root() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "USER logpipe" in dockerfile and "HEALTHCHECK" in dockerfile


def test_workers_reach_each_other_and_prometheus_scrapes_each() -> None:
    found = workers()
    assert len(found) >= 2
    for name, service in found.items():
        assert (COMPOSE / service["build"]["context"]).resolve() == ROOT, f"{name} is not built from the repo"
        assert [p.rsplit(":", 1)[1] for p in service["ports"]] == ["6066"], name
        env = service["environment"]
        assert env["WEB_HOST"] == name, "peers forward stats requests to WEB_HOST"
        assert env["WEB_BIND"] == "0.0.0.0"
        assert any(v.endswith(":/var/lib/logpipe") for v in service["volumes"]), "table state on a volume"
    prometheus = yaml.safe_load((COMPOSE / "prometheus" / "prometheus.yml").read_text())
    (job,) = [j for j in prometheus["scrape_configs"] if j["job_name"] == "logpipe"]
    targets = {t for config in job["static_configs"] for t in config["targets"]}
    assert targets == {f"{name}:6066" for name in found}
    assert job.get("metrics_path", "/metrics") == "/metrics"
    host_ports = [p.split(":")[0] for svc in found.values() for p in svc["ports"]]
    assert len(set(host_ports)) == len(host_ports), "each worker needs its own host port"
    assert prometheus["rule_files"] == ["/etc/prometheus/alerts.yml"]


def test_grafana_provisions_both_data_sources_and_the_dashboards() -> None:
    sources = yaml.safe_load((COMPOSE / "grafana/provisioning/datasources/datasources.yml").read_text())
    uids = {s["uid"]: s["type"] for s in sources["datasources"]}
    assert uids == {"prometheus": "prometheus", "postgres": "grafana-postgresql-datasource"}
    dashboards = sorted(p.name for p in (ROOT / "dashboards").glob("*.json"))
    assert dashboards == ["logpipe-api.json", "logpipe-logs.json", "logpipe-pipeline.json"]


def test_workers_read_the_example_log_rules_and_the_alerts_name_real_rules() -> None:
    rules = {rule.name for rule in read_rules(str(COMPOSE / "logpipe-rules.yaml"))}
    for name, service in workers().items():
        path = service["environment"]["LOG_RULES_FILE"]
        assert f"./logpipe-rules.yaml:{path}:ro" in service["volumes"], f"{name} does not mount the rules file"
    alerts = (COMPOSE / "prometheus" / "alerts.yml").read_text()
    named = set(re.findall(r'logpipe_log_rule_matches\{rule="([^"]+)"\}', alerts))
    assert named and named <= rules, f"alerts on rules the file does not define: {named - rules}"

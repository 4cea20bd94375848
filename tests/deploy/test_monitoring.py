"""deploy/monitoring/: the Prometheus alert rules and the Grafana dashboard name only metrics /metrics exports,
and the rules file has the shape Prometheus loads (promtool itself is not needed by the suite)."""

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "monitoring" / "naevus-alerts.yml"
DASHBOARD = ROOT / "deploy" / "monitoring" / "grafana-dashboard.json"
NAME = re.compile(r"\bnaevus_[a-z0-9_]+")


def _family(name: str) -> str:
    return re.sub(r"_(bucket|count|sum)$", "", name)


@pytest.fixture
def exported(client, settings, db) -> set[str]:
    """The metric families a real scrape of /metrics declares (# TYPE lines), against the test database and Redis."""
    settings.NAEVUS_METRICS_TOKEN = "t"
    client.get("/api/v1/health/")  # so that the request histogram has a sample
    body = client.get("/metrics", HTTP_AUTHORIZATION="Bearer t").content.decode()
    return {line.split()[2] for line in body.splitlines() if line.startswith("# TYPE ")}


def _rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def test_every_alert_rule_is_complete_and_its_expression_names_exported_metrics(exported):
    rules = _rules()
    assert {"NaevusNoWorker", "NaevusWorkerStalled", "NaevusQueueGrowing", "NaevusPredictionsFailing"} <= {
        r["alert"] for r in rules
    }
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]
        unknown = {_family(n) for n in NAME.findall(rule["expr"])} - exported
        assert not unknown, f"{rule['alert']} uses metrics /metrics does not export: {unknown}"


def test_every_dashboard_panel_queries_exported_metrics(exported):
    panels = json.loads(DASHBOARD.read_text())["panels"]
    assert panels
    for panel in panels:
        for target in panel["targets"]:
            names = {_family(n) for n in NAME.findall(target["expr"])}
            assert names, f"{panel['title']}: queries no Naevus metric"
            assert names <= exported, f"{panel['title']}: {names - exported} not exported"

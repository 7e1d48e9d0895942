"""The Grafana dashboards in dashboards/ ask only for series the daemons export.

Each dashboard is checked for the shape Grafana imports (a datasource variable, panels
with unique IDs inside the 24-column grid, a PromQL expression per target). Then every
metric a query names must be in what a running broker and collector serve on /metrics,
and every label a query groups by must be on that metric's series: `causeway demo`
provides a broker and a collector that have stitched chains, and a second collector with
an OTLP and a Zipkin exporter provides the exporter series.
"""

import json
import re

import pytest
import requests

from conftest import REPO_ROOT
from test_collector_ingest import Collector
from test_order_demo import Demo

DASHBOARDS = sorted((REPO_ROOT / "dashboards").glob("*.json"))
SERIES = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="')
METRIC = re.compile(r"\b(causeway_[a-z0-9_]+)\b")
BY = re.compile(r"\bby \(([^)]*)\)\s*\(\s*(?:rate|increase)?\(?\s*(causeway_[a-z0-9_]+)")


def exposition(url):
    """metric name → the label names seen on its series."""
    reply = requests.get(url, timeout=30)
    assert reply.status_code == 200, reply.text
    labels = {}
    for line in reply.text.splitlines():
        match = SERIES.match(line)
        if match and not line.startswith("#"):
            labels.setdefault(match.group(1), set()).update(LABEL.findall(match.group(2) or ""))
    return labels


def expressions(path):
    dashboard = json.loads(path.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.name)
def test_dashboard_has_the_shape_grafana_imports(path):
    dashboard = json.loads(path.read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]
            assert METRIC.search(target["expr"]), target["expr"]


def test_dashboards_ask_only_for_exported_series(causeway, tmp_path):
    assert {path.name for path in DASHBOARDS} == {"causeway-broker.json", "causeway-collector.json"}
    (tmp_path / "demo").mkdir()
    demo = Demo(causeway, tmp_path / "demo")
    exporting = Collector(
        causeway, tmp_path / "exporting",
        "--export-otlp", "http://127.0.0.1:9/v1/traces", "--export-zipkin", "http://127.0.0.1:9/api/v2/spans",
    )
    try:
        served = {
            "causeway-broker.json": exposition(demo.broker_metrics),
            "causeway-collector.json": exposition(demo.collector_metrics) | exposition(exporting.http + "/metrics"),
        }
        for path in DASHBOARDS:
            available = served[path.name]
            for expr in expressions(path):
                for name in METRIC.findall(expr):
                    assert name in available, f"{path.name}: {name} is not exported ({expr})"
                for grouping, name in BY.findall(expr):
                    for label in (part.strip() for part in grouping.split(",")):
                        if label != "le":
                            assert label in available[name], f"{path.name}: {name} has no label {label} ({expr})"
    finally:
        exporting.stop()
        assert demo.stop() == 0

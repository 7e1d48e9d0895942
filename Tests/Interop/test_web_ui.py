"""The collector's web UI in a real browser (Debian's chromium, headless).

`causeway demo --keep-running` stitches the scenario's orders; chromium loads the UI's
pages and `--dump-dom` gives the document after its script has fetched from the query
API and drawn: the chain list, a chain with its waterfall lanes, hops, spans and logs,
and the services-and-topics graph. A chain ID that does not exist shows the API's error.
"""

import html
import re
import shutil
import subprocess

import pytest
import requests

from test_order_demo import Demo

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make deps-test installs it)")


def rendered(url):
    """The DOM once the page's fetches are done (virtual time runs them to completion)."""
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=15000", "--dump-dom", url],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def texts(dom, element_id):
    """The text of each row of the table with this id."""
    match = re.search(rf'<table id="{element_id}">(.*?)</table>', dom, re.S)
    assert match, f"no table {element_id} in the page"
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", match.group(1), re.S)
    return [html.unescape(re.sub(r"<[^>]+>", " ", row)) for row in rows[1:]]


def test_the_ui_shows_chains_a_chain_and_the_graph(causeway, tmp_path):
    demo = Demo(causeway, tmp_path)
    try:
        page = requests.get(demo.query + "/", timeout=30)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in page.headers["content-security-policy"]

        dom = rendered(demo.query + "/#/")
        assert 'data-loaded="#/"' in dom
        rows = texts(dom, "chains")
        assert len(rows) == 6
        assert sum("has_dead_letters" in row for row in rows) == 1
        assert all("order-service: POST /orders" in row for row in rows)

        poison = next(chain for chain in requests.get(demo.query + "/api/chains", timeout=30).json()["data"]
                      if chain["status"] == "has_dead_letters")
        dom = rendered(f"{demo.query}/#/chain/{poison['chainID']}")
        assert poison["chainID"] in dom
        lanes = re.findall(r'<div class="name">([^<]+)</div>', dom)
        assert lanes == ["order-service", "inventory-service", "payment-service"]
        hops = texts(dom, "hops")
        assert sum("retry" in hop for hop in hops) == 2 and any("dead letter" in hop for hop in hops)
        spans = texts(dom, "spans")
        assert sum("process inventory_events" in span and "error" in span for span in spans) == 3
        assert any("send inventory_events.dlq" in span and "producer" in span for span in spans)
        logs = texts(dom, "logs")
        assert sum("payment declined" in log for log in logs) == 3
        assert ">null<" not in dom

        dom = rendered(demo.query + "/#/graph")
        edges = texts(dom, "edges")
        assert any(edge.split()[:3] == ["order-service", "topic", "order_events"] for edge in edges), edges

        dom = rendered(demo.query + "/#/chain/0123456789abcdef0123456789abcdef")
        assert 'data-loaded="error"' in dom and "chain not found" in dom
    finally:
        assert demo.stop() == 0

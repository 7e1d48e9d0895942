/// The web UI: one page, no build step, served at `/` by the query API. It reads only the
/// query API (`/api/chains`, `/api/chains/{id}`, `/api/graph`, backlinks) and puts every
/// value into the page as text, never as markup.
enum CollectorUI {
    static let page = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Causeway</title>
<style>
  :root { --fg: #1d2330; --muted: #667085; --line: #e4e7ec; --bg: #f8f9fb; --accent: #2e6cdf; --err: #d92d20; --dlq: #b54708; --wait: #98a2b3; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
  header { display: flex; gap: 24px; align-items: baseline; padding: 12px 24px; background: #fff; border-bottom: 1px solid var(--line); }
  header h1 { font-size: 18px; margin: 0; }
  header a { color: var(--accent); text-decoration: none; }
  main { padding: 16px 24px; }
  form { display: flex; flex-wrap: wrap; gap: 8px; align-items: end; margin-bottom: 12px; }
  label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); }
  input, select, button { font: inherit; padding: 4px 6px; border: 1px solid var(--line); border-radius: 4px; background: #fff; }
  button { cursor: pointer; color: #fff; background: var(--accent); border-color: var(--accent); }
  table { border-collapse: collapse; width: 100%; background: #fff; }
  th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
  th { font-size: 12px; color: var(--muted); font-weight: 600; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  a.id { font-family: ui-monospace, monospace; color: var(--accent); }
  .status { padding: 1px 6px; border-radius: 8px; font-size: 12px; background: #ecfdf3; color: #067647; }
  .status.has_errors, .status.has_missing_hops { background: #fef3f2; color: var(--err); }
  .status.has_dead_letters { background: #fffaeb; color: var(--dlq); }
  .status.in_progress { background: #eff8ff; color: var(--accent); }
  .error { color: var(--err); }
  .muted { color: var(--muted); }
  section { margin: 16px 0; }
  h2 { font-size: 15px; margin: 0 0 8px; }
  .figures { display: flex; flex-wrap: wrap; gap: 20px; margin: 8px 0 16px; }
  .figures div b { display: block; font-size: 18px; }
  .waterfall { background: #fff; border: 1px solid var(--line); padding: 8px 0; }
  .lane { display: flex; align-items: center; height: 28px; }
  .lane .name { width: 190px; padding: 0 8px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; font-size: 12px; }
  .lane .track { position: relative; flex: 1; height: 18px; margin-right: 16px; border-left: 1px solid var(--line); }
  .bar { position: absolute; top: 2px; height: 14px; min-width: 2px; border-radius: 2px; background: var(--accent); }
  .bar.error { background: var(--err); }
  .bar.dlq { background: var(--dlq); }
  .bar.wait { top: 8px; height: 2px; background: repeating-linear-gradient(90deg, var(--wait) 0 4px, transparent 4px 7px); }
  .axis { display: flex; justify-content: space-between; margin: 0 16px 0 190px; font-size: 11px; color: var(--muted); }
  .flag { font-size: 11px; padding: 0 4px; border-radius: 3px; background: var(--line); margin-right: 3px; }
  pre { white-space: pre-wrap; margin: 0; font-size: 12px; }
  #message { margin: 8px 0; }
</style>
</head>
<body>
<header>
  <h1>Causeway</h1>
  <a href="#/">Chains</a>
  <a href="#/graph">Graph</a>
  <span class="muted">causality chains across message hops</span>
</header>
<main>
  <div id="message" role="status"></div>
  <div id="view"></div>
</main>
<script>
"use strict";
// Every value from the API goes into the page through textContent, never as HTML.
const view = document.getElementById("view");
const message = document.getElementById("message");

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (key === "text") node.textContent = value;
    else if (key === "style") Object.assign(node.style, value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

async function api(path) {
  const reply = await fetch(path, { headers: { accept: "application/json" } });
  const body = await reply.json().catch(() => ({}));
  if (!reply.ok) {
    const reason = (body.errors && body.errors.map(e => e.msg || JSON.stringify(e)).join("; ")) || reply.statusText;
    throw new Error(`${path}: ${reply.status} ${reason}`);
  }
  return body.data;
}

function duration(nanos) {
  if (nanos == null) return "–";
  const abs = Math.abs(nanos);
  if (abs >= 1e9) return (nanos / 1e9).toFixed(2) + " s";
  if (abs >= 1e6) return (nanos / 1e6).toFixed(1) + " ms";
  if (abs >= 1e3) return (nanos / 1e3).toFixed(1) + " µs";
  return nanos + " ns";
}

function time(nanos) {
  return nanos ? new Date(Number(nanos) / 1e6).toISOString().replace("T", " ").replace("Z", "") : "–";
}

const SPAN_KINDS = { 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer" };

function status(text) { return el("span", { class: "status " + text, text }); }

async function chainsView(params) {
  const form = el("form", { id: "filters" });
  const fields = [["correlation_id", "Correlation ID"], ["service", "Service"], ["topic", "Topic"], ["minDuration", "Min duration (e.g. 100ms)"], ["limit", "Limit"]];
  for (const [name, title] of fields) {
    form.append(el("label", { text: title }, el("input", { name, value: params.get(name) || "" })));
  }
  const select = el("select", { name: "status" }, el("option", { value: "", text: "any" }));
  for (const value of ["complete", "in_progress", "has_errors", "has_dead_letters", "has_missing_hops"]) {
    const option = el("option", { value, text: value });
    if (params.get("status") === value) option.selected = true;
    select.append(option);
  }
  form.append(el("label", { text: "Status" }, select), el("button", { type: "submit", text: "Search" }));
  form.addEventListener("submit", event => {
    event.preventDefault();
    const query = new URLSearchParams();
    for (const [key, value] of new FormData(form)) if (value) query.set(key, value);
    location.hash = "#/?" + query.toString();
  });
  const query = new URLSearchParams(params);
  if (!query.get("limit")) query.set("limit", "50");
  const chains = await api("/api/chains?" + query.toString());
  const table = el("table", { id: "chains" }, el("tr", {},
    ...["Chain", "Correlation ID", "Status", "Root", "Start", "End to end", "Hops", "Spans", "Retries", "Dead letters", "Duplicates", "Missing"].map(text => el("th", { text }))));
  for (const chain of chains) {
    table.append(el("tr", { class: "chain" },
      el("td", {}, el("a", { class: "id", href: "#/chain/" + chain.chainID, text: chain.chainID.slice(0, 16) })),
      el("td", { text: chain.correlationID || "–" }),
      el("td", {}, status(chain.status), chain.open ? el("span", { class: "muted", text: " open" }) : null),
      el("td", { text: [chain.rootService, chain.rootOperation].filter(Boolean).join(": ") || "–" }),
      el("td", { text: time(chain.startTimeUnixNano) }),
      el("td", { class: "num", text: duration(chain.endToEndNanos) }),
      ...[chain.hopCount, chain.spanCount, chain.retries, chain.deadLetterHops, chain.duplicatesSkipped, chain.missingCount].map(n => el("td", { class: "num", text: String(n) }))));
  }
  view.replaceChildren(el("h2", { text: "Chains" }), form, chains.length ? table : el("p", { class: "muted", text: "No chain matches." }));
}

function spanIndex(otlp) {
  const spans = new Map();
  for (const resource of (otlp && otlp.resourceSpans) || []) {
    const attributes = (resource.resource && resource.resource.attributes) || [];
    const service = (attributes.find(a => a.key === "service.name") || {}).value;
    for (const scope of resource.scopeSpans || []) {
      for (const span of scope.spans || []) {
        spans.set(span.traceId + ":" + span.spanId, { ...span, service: service ? service.stringValue : "?" });
      }
    }
  }
  return spans;
}

function waterfall(chain) {
  const start = chain.startTimeUnixNano, total = Math.max(1, chain.endTimeUnixNano - start);
  const lanes = new Map();
  const lane = name => {
    if (!lanes.has(name)) lanes.set(name, el("div", { class: "track" }));
    return lanes.get(name);
  };
  const place = (track, from, to, cls, title) => {
    const left = ((from - start) / total) * 100, width = Math.max(0, ((to - from) / total) * 100);
    track.append(el("div", { class: "bar " + cls, title, style: { left: left + "%", width: width + "%" } }));
  };
  for (const hop of chain.hops || []) {
    const producer = hop.producer;
    if (producer.startTimeUnixNano != null) {
      place(lane(producer.service || "?"), producer.startTimeUnixNano, producer.endTimeUnixNano,
        (producer.error ? "error" : "") + (hop.deadLetter ? " dlq" : ""), `send ${hop.topic} (${duration(producer.endTimeUnixNano - producer.startTimeUnixNano)})`);
    }
    for (const delivery of hop.deliveries || []) {
      const track = lane(delivery.service || "?");
      if (producer.endTimeUnixNano != null && delivery.startTimeUnixNano > producer.endTimeUnixNano) {
        place(track, producer.endTimeUnixNano, delivery.startTimeUnixNano, "wait", `queue wait on ${hop.topic}: ${duration(delivery.queueWaitNanos)}`);
      }
      place(track, delivery.startTimeUnixNano, delivery.endTimeUnixNano, delivery.error ? "error" : "",
        `process ${hop.topic}, attempt ${delivery.attempt} (${duration(delivery.endTimeUnixNano - delivery.startTimeUnixNano)})`);
    }
  }
  const box = el("div", { class: "waterfall", id: "waterfall" });
  box.append(el("div", { class: "axis" }, el("span", { text: "0" }), el("span", { text: duration(total) })));
  for (const [name, track] of lanes) box.append(el("div", { class: "lane" }, el("div", { class: "name", text: name }), track));
  return box;
}

async function chainView(id) {
  const chain = (await api("/api/chains/" + encodeURIComponent(id)))[0];
  const spans = spanIndex(chain.spans);
  const figures = el("div", { class: "figures" },
    ...[["Status", status(chain.status)], ["End to end", duration(chain.endToEndNanos)], ["Hops", chain.hopCount], ["Spans", chain.spanCount],
        ["Retries", chain.retries], ["Dead letters", chain.deadLetterHops], ["Duplicates skipped", chain.duplicatesSkipped], ["Errors", chain.errorCount]]
      .map(([title, value]) => el("div", {}, el("b", {}, typeof value === "object" ? value : String(value)), el("span", { class: "muted", text: title }))));

  const hops = el("table", { id: "hops" }, el("tr", {}, ...["#", "Topic", "Producer", "Consumer", "Queue wait", "Processing", "Flags"].map(text => el("th", { text }))));
  (chain.hops || []).forEach((hop, index) => {
    const deliveries = hop.deliveries.length ? hop.deliveries : [null];
    for (const delivery of deliveries) {
      const flags = el("td", {});
      if (hop.onCriticalPath) flags.append(el("span", { class: "flag", text: "critical path" }));
      if (hop.deadLetter) flags.append(el("span", { class: "flag", text: "dead letter" }));
      if (hop.fanOut) flags.append(el("span", { class: "flag", text: "fan-out" }));
      if (!hop.producer.received) flags.append(el("span", { class: "flag error", text: "producer never received" }));
      if (delivery && delivery.attempt > 1) flags.append(el("span", { class: "flag", text: "retry " + (delivery.attempt - 1) }));
      if (delivery && delivery.duplicateSkipped) flags.append(el("span", { class: "flag", text: "duplicate skipped" }));
      if (delivery && delivery.error) flags.append(el("span", { class: "flag error", text: "error" }));
      hops.append(el("tr", { class: "hop" },
        el("td", { class: "num", text: String(index + 1) }),
        el("td", { text: `${hop.topic || "?"}${hop.partition != null ? " [" + hop.partition + "]" : ""}${hop.offset != null ? " @" + hop.offset : ""}` }),
        el("td", { text: hop.producer.service || "?" }),
        el("td", { text: delivery ? `${delivery.service || "?"}${delivery.consumerGroup ? " (" + delivery.consumerGroup + ")" : ""}` : "nobody yet" }),
        el("td", { class: "num", text: delivery ? duration(delivery.queueWaitNanos) : "–" }),
        el("td", { class: "num", text: delivery ? duration(delivery.endTimeUnixNano - delivery.startTimeUnixNano) : "–" }),
        flags));
    }
  });

  const missing = el("ul", { id: "missing" });
  for (const part of chain.missing || []) {
    missing.append(el("li", { text: part.kind === "unconsumed_message"
      ? `a message sent to ${part.topic || "?"} (span ${part.producer.spanID}) that nobody processed`
      : `span ${part.consumer.spanID} links to span ${part.target.spanID} of trace ${part.target.traceID}, which the collector never received` }));
  }

  const spanTable = el("table", { id: "spans" }, el("tr", {}, ...["Service", "Span", "Kind", "Start", "Duration", "Status", "Linked from"].map(text => el("th", { text }))));
  const sorted = [...spans.values()].sort((a, b) => Number(BigInt(a.startTimeUnixNano) - BigInt(b.startTimeUnixNano)));
  for (const span of sorted) {
    const backlinks = el("td", {});
    const button = el("button", { type: "button", text: "who links here" });
    button.addEventListener("click", async () => {
      try {
        const references = await api(`/api/spans/${span.traceId}/${span.spanId}/backlinks`);
        backlinks.replaceChildren(references.length
          ? el("span", { text: references.map(r => `${r.serviceName}: ${r.operationName}`).join(", ") })
          : el("span", { class: "muted", text: "nobody" }));
      } catch (error) { backlinks.replaceChildren(el("span", { class: "error", text: error.message })); }
    });
    backlinks.append(button);
    const failed = span.status && (span.status.code === 2 || span.status.code === "STATUS_CODE_ERROR");
    spanTable.append(el("tr", {},
      el("td", { text: span.service }), el("td", { text: span.name }),
      el("td", { text: SPAN_KINDS[span.kind] || String(span.kind).replace("SPAN_KIND_", "").toLowerCase() }),
      el("td", { text: time(span.startTimeUnixNano) }),
      el("td", { class: "num", text: duration(Number(BigInt(span.endTimeUnixNano) - BigInt(span.startTimeUnixNano))) }),
      el("td", { class: failed ? "error" : "", text: failed ? (span.status.message || "error") : "ok" }),
      backlinks));
  }

  const logs = el("table", { id: "logs" }, el("tr", {}, ...["Time", "Service", "Severity", "Message"].map(text => el("th", { text }))));
  for (const resource of (chain.logs && chain.logs.resourceLogs) || []) {
    const service = ((resource.resource && resource.resource.attributes) || []).find(a => a.key === "service.name");
    for (const scope of resource.scopeLogs || []) {
      for (const record of scope.logRecords || []) {
        const body = record.body ? (record.body.stringValue ?? JSON.stringify(record.body)) : "";
        logs.append(el("tr", {}, el("td", { text: time(record.timeUnixNano) }), el("td", { text: service ? service.value.stringValue : "?" }),
          el("td", { text: record.severityText || String(record.severityNumber || "") }), el("td", {}, el("pre", { text: body }))));
      }
    }
  }

  view.replaceChildren(...[
    el("h2", { text: `Chain ${chain.chainID}` }),
    el("div", { class: "muted", text: `correlation ${chain.correlationID || "–"} · started ${time(chain.startTimeUnixNano)} · traces ${chain.traceIDs.join(", ")}` }),
    figures,
    el("section", {}, el("h2", { text: "Waterfall" }), waterfall(chain)),
    el("section", {}, el("h2", { text: "Hops in causal order" }), hops),
    (chain.missing || []).length ? el("section", {}, el("h2", { text: "Missing" }), missing) : null,
    el("section", {}, el("h2", { text: "Spans" }), spanTable),
    el("section", {}, el("h2", { text: "Logs" }), logs)].filter(Boolean));
}

async function graphView() {
  const graph = await api("/api/graph");
  const names = new Map(graph.nodes.map(node => [node.id, `${node.kind === "topic" ? "topic " : ""}${node.name}`]));
  const table = el("table", { id: "edges" }, el("tr", {}, ...["From", "To", "Messages", "Queue wait p50", "Queue wait p99"].map(text => el("th", { text }))));
  for (const edge of graph.edges) {
    table.append(el("tr", {}, el("td", { text: names.get(edge.source) || edge.source }), el("td", { text: names.get(edge.target) || edge.target }),
      el("td", { class: "num", text: String(edge.messages) }), el("td", { class: "num", text: duration(edge.queueWaitP50Nanos) }),
      el("td", { class: "num", text: duration(edge.queueWaitP99Nanos) })));
  }
  view.replaceChildren(el("h2", { text: "Services and topics" }), graph.edges.length ? table : el("p", { class: "muted", text: "No messages yet." }));
}

async function route() {
  message.textContent = "";
  const hash = location.hash || "#/";
  try {
    if (hash.startsWith("#/chain/")) await chainView(decodeURIComponent(hash.slice(8)));
    else if (hash.startsWith("#/graph")) await graphView();
    else await chainsView(new URLSearchParams(hash.split("?")[1] || ""));
    document.body.dataset.loaded = hash;
  } catch (error) {
    message.replaceChildren(el("p", { class: "error", text: error.message }));
    document.body.dataset.loaded = "error";
  }
}
window.addEventListener("hashchange", route);
route();
</script>
</body>
</html>
"""#
}

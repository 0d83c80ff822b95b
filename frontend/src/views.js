// The four views: 3D network, heatmap, forecast chart and the violations table.

import ForceGraph3D from "3d-force-graph";
import Plotly from "plotly.js-dist-min";

const COLORS = { content: "#4fa3ff", region: "#6cc070", rule: "#e5484d" };
const PLOT_LAYOUT = {
  paper_bgcolor: "rgba(0,0,0,0)",
  plot_bgcolor: "rgba(0,0,0,0)",
  font: { color: "#e6e9ef", size: 11 },
  margin: { l: 48, r: 12, t: 8, b: 40 },
};
const PLOT_CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["toImage"] };

export class NetworkView {
  constructor(element) {
    this.element = element;
    this.graph = new ForceGraph3D(element, { rendererConfig: { preserveDrawingBuffer: true } })
      .backgroundColor("#171e2e")
      .width(element.clientWidth)
      .height(element.clientHeight)
      .nodeLabel((node) => `${node.kind}: ${node.label} (${node.count})`)
      .nodeColor((node) => COLORS[node.kind])
      .nodeVal((node) => 1 + Math.log2(1 + node.count))
      .linkWidth((link) => Math.min(4, 0.5 + Math.log2(1 + link.count)))
      .linkOpacity(0.5)
      .cooldownTicks(120)
      .onEngineStop(() => this.graph.zoomToFit(400, 20));
    this.signature = "";
  }

  update(links) {
    const signature = JSON.stringify(links);
    if (signature === this.signature) return; // keep the layout when nothing changed
    this.signature = signature;
    const nodes = new Map();
    const edges = new Map();
    const node = (kind, label, count) => {
      const id = `${kind}:${label}`;
      const current = nodes.get(id) || { id, kind, label, count: 0 };
      current.count += count;
      nodes.set(id, current);
      return id;
    };
    const edge = (source, target, count) => {
      const key = `${source}->${target}`;
      const current = edges.get(key) || { source, target, count: 0 };
      current.count += count;
      edges.set(key, current);
    };
    for (const link of links) {
      const content = node("content", link.contentId, link.count);
      const region = node("region", link.region, link.count);
      const rule = node("rule", link.rule, link.count);
      edge(content, region, link.count);
      edge(region, rule, link.count);
    }
    this.graph.graphData({ nodes: [...nodes.values()], links: [...edges.values()] });
  }
}

export function renderHeatmap(element, cells) {
  const hours = [...new Set(cells.map((c) => c.hour))].sort();
  const regions = [...new Set(cells.map((c) => c.region))].sort();
  const z = regions.map((region) =>
    hours.map((hour) => {
      const cell = cells.find((c) => c.hour === hour && c.region === region);
      return cell ? cell.count : 0;
    }),
  );
  const trace = {
    type: "heatmap",
    x: hours.map((h) => h.slice(5, 13).replace("T", " ") + "h"),
    y: regions,
    z,
    colorscale: "YlOrRd",
    reversescale: true,
    hovertemplate: "%{y} · %{x}: %{z} violations<extra></extra>",
  };
  Plotly.react(element, [trace], { ...PLOT_LAYOUT, xaxis: { type: "category" } }, PLOT_CONFIG);
}

export function renderForecast(element, methodElement, forecast) {
  methodElement.textContent = `Forecast: ${forecast.method}`;
  const points = forecast.points;
  const past = points.filter((p) => p.violations !== null);
  const future = points.filter((p) => p.violations === null);
  const x = (p) => p.hour.slice(5, 13).replace("T", " ") + "h";
  const traces = [
    { name: "actual", x: past.map(x), y: past.map((p) => p.violations), type: "bar",
      marker: { color: "#4fa3ff" } },
    { name: "fitted", x: past.map(x), y: past.map((p) => p.forecast), mode: "lines",
      line: { color: "#8c96a8", dash: "dot" } },
    { name: "band", x: future.map(x).concat(future.map(x).reverse()),
      y: future.map((p) => p.upper).concat(future.map((p) => p.lower).reverse()),
      mode: "lines", fill: "toself", fillcolor: "rgba(240,138,60,0.25)", line: { width: 0 },
      hoverinfo: "skip" },
    { name: "forecast", x: future.map(x), y: future.map((p) => p.forecast), mode: "lines+markers",
      line: { color: "#f08a3c" } },
  ];
  const layout = { ...PLOT_LAYOUT, showlegend: true, legend: { orientation: "h", y: -0.25 },
                   xaxis: { type: "category" } };
  Plotly.react(element, traces, layout, PLOT_CONFIG);
}

const RANK = { low: 0, medium: 1, high: 2, critical: 3 };
const MAX_ROWS = 500;

export class ViolationTable {
  constructor(body, countElement, filters) {
    this.body = body;
    this.countElement = countElement;
    this.filters = filters; // {severity, regulation, content} inputs
    this.rows = []; // newest first
    this.seen = new Set();
    for (const input of Object.values(filters)) input.addEventListener("input", () => this.render());
  }

  add(violation, fresh) {
    if (this.seen.has(violation.id)) return;
    this.seen.add(violation.id);
    this.rows.unshift({ ...violation, fresh });
    if (this.rows.length > MAX_ROWS) this.seen.delete(this.rows.pop().id);
  }

  matches(row) {
    const severity = this.filters.severity.value;
    const regulation = this.filters.regulation.value.trim();
    const content = this.filters.content.value.trim();
    return (!severity || RANK[row.severity.toLowerCase()] >= RANK[severity])
      && (!regulation || row.regulation.includes(regulation))
      && (!content || (row.contentId || "").includes(content));
  }

  render() {
    const shown = this.rows.filter((row) => this.matches(row));
    this.countElement.textContent = String(shown.length);
    const fragment = document.createDocumentFragment();
    for (const row of shown) {
      const tr = document.createElement("tr");
      tr.dataset.violationId = row.id;
      if (row.fresh) tr.className = "fresh";
      const severity = row.severity.toLowerCase();
      const when = new Date(row.occurredAt).toISOString().replace("T", " ").slice(0, 19);
      const cells = [`${when} UTC`,
        null, row.regulation, row.ruleId, row.contentId || "", row.eventId, row.message];
      cells.forEach((text, index) => {
        const td = document.createElement("td");
        if (index === 1) {
          const badge = document.createElement("span");
          badge.className = `sev sev-${severity}`;
          badge.textContent = severity;
          td.append(badge);
        } else {
          td.textContent = text;
        }
        if (index === 6) td.className = "message";
        tr.append(td);
      });
      fragment.append(tr);
      row.fresh = false;
    }
    this.body.replaceChildren(fragment);
  }
}

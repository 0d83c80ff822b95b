// The dashboard: loads the aggregates over GraphQL, then stays live over /v1/stream.
import "./style.css";
import { AGGREGATES_QUERY, DASHBOARD_QUERY, graphql } from "./graphql.js";
import { LiveStream } from "./stream.js";
import { NetworkView, renderForecast, renderHeatmap, ViolationTable } from "./views.js";

const KEY_STORAGE = "ottc.apiKey";
const WINDOW_HOURS = 24;
const REFRESH_DEBOUNCE_MS = 400;

const $ = (id) => document.getElementById(id);
const status = $("connection");
const state = { stream: null, apiKey: null, refreshTimer: null, network: null, table: null };

function setStatus(kind, detail) {
  const text = { idle: "not connected", connecting: "connecting…", live: "live",
                 reconnecting: "reconnecting…", error: `refused: ${detail || ""}` }[kind];
  status.textContent = text;
  status.className = `status status-${kind}`;
  status.dataset.state = kind;
}

// whole UTC hours, the current one included: the heatmap's cells are hours, and the server
// answers whole hours from its hourly rollup (a partial hour means reading stored rows)
function period() {
  const hour = 3600 * 1000;
  const until = new Date((Math.floor(Date.now() / hour) + 1) * hour);
  const since = new Date(until.getTime() - WINDOW_HOURS * hour);
  return { since: since.toISOString(), until: until.toISOString() };
}

function renderAggregates(data) {
  state.network.update(data.violationNetwork);
  renderHeatmap($("heatmap"), data.violationHeatmap);
  renderForecast($("forecast"), $("forecast-method"), data.forecast);
  document.body.dataset.aggregatesAt = String(Date.now());
}

async function refreshAggregates() {
  state.refreshTimer = null;
  try {
    renderAggregates(await graphql(state.apiKey, AGGREGATES_QUERY, period()));
  } catch (error) {
    console.warn("refresh failed:", error.message);
  }
}

function scheduleRefresh() {
  if (state.refreshTimer === null) {
    state.refreshTimer = setTimeout(refreshAggregates, REFRESH_DEBOUNCE_MS);
  }
}

async function connect(apiKey) {
  if (state.stream) state.stream.stop();
  state.apiKey = apiKey;
  setStatus("connecting");
  let data;
  try {
    data = await graphql(apiKey, DASHBOARD_QUERY, period());
  } catch (error) {
    setStatus("error", error.unauthenticated ? "unknown API key" : error.message);
    return;
  }
  sessionStorage.setItem(KEY_STORAGE, apiKey);
  $("tenant-name").textContent = `· ${data.tenant.displayName}`;
  renderAggregates(data);
  for (const edge of data.violations.edges) state.table.add(edge.node, false);
  state.table.render();
  state.stream = new LiveStream({
    apiKey,
    channels: { violations: {}, alerts: {} },
    onStatus: setStatus,
    onLagged: () => scheduleRefresh(),
    onMessage: (channel, message) => {
      if (channel === "violations") {
        state.table.add({ ...message, severity: message.severity }, true);
        state.table.render();
        document.body.dataset.lastViolation = message.eventId;
      }
      scheduleRefresh();
    },
  });
  state.stream.start();
}

function main() {
  state.network = new NetworkView($("network"));
  state.table = new ViolationTable($("violations").tBodies[0], $("violation-count"), {
    severity: $("filter-severity"), regulation: $("filter-regulation"), content: $("filter-content"),
  });
  setStatus("idle");
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("api-key").value.trim();
    if (key) connect(key);
  });
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("key");
  if (fromHash) history.replaceState(null, "", location.pathname); // keep keys out of history
  const saved = fromHash || sessionStorage.getItem(KEY_STORAGE);
  if (saved) {
    $("api-key").value = saved;
    connect(saved);
  }
}

main();

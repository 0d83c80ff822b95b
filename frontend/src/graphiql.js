// GraphiQL for /v1/graphql, bundled from the pinned npm packages (no CDN at run time).
// The page is served by GET /v1/graphql itself, so that is the endpoint; subscriptions go
// over graphql-transport-ws on the same path with the key in connection_init.
import { createElement } from "react";
import { createRoot } from "react-dom/client";
import { GraphiQL } from "graphiql";
import { createGraphiQLFetcher } from "@graphiql/toolkit";
import { createClient } from "graphql-ws";
import "graphiql/style.css";

const endpoint = new URL(location.pathname, location.href).href;
const socketEndpoint = endpoint.replace(/^http/, "ws");

const DEFAULT_QUERY = `# Put your API key in the Headers tab below: {"X-API-Key": "ottc_…"}
query Recent {
  tenant { id displayName plan }
  violations(last: 10) {
    edges { node { id ruleId regulation severity occurredAt contentId } }
  }
}
`;

// like the dashboard, /v1/graphql#key=… fills the key in (and leaves the address bar)
const keyInAddress = new URLSearchParams(location.hash.slice(1)).get("key") || "";
if (keyInAddress) history.replaceState(null, "", location.pathname + location.search);

function apiKeyOf(headers) {
  if (!headers) return "";
  const name = Object.keys(headers).find((h) => h.toLowerCase() === "x-api-key");
  return name ? String(headers[name]) : "";
}

// one socket per API key: a key typed into the headers applies to the next subscription
let socket = null;
let socketKey = null;
function socketFor(apiKey) {
  if (socket === null || socketKey !== apiKey) {
    if (socket !== null) socket.dispose();
    socket = createClient({ url: socketEndpoint, connectionParams: { apiKey }, lazy: true });
    socketKey = apiKey;
  }
  return socket;
}

// GraphiQL's own schema introspection goes out without the headers editor's contents;
// every request to /v1/graphql needs the key (401 before the body is read), so the key
// from the headers, else the one from the address, goes with every request
function fetcher(params, options) {
  const apiKey = apiKeyOf(options && options.headers) || keyInAddress;
  const headers = { ...((options && options.headers) || {}) };
  if (apiKey && !apiKeyOf(headers)) headers["X-API-Key"] = apiKey;
  const withKey = { ...(options || {}), headers };
  return createGraphiQLFetcher({ url: endpoint, wsClient: socketFor(apiKey) })(params, withKey);
}

createRoot(document.getElementById("graphiql")).render(
  createElement(GraphiQL, {
    fetcher,
    defaultQuery: DEFAULT_QUERY,
    defaultHeaders: JSON.stringify({ "X-API-Key": keyInAddress }),
    isHeadersEditorEnabled: true,
    defaultEditorToolsVisibility: "headers",
  }),
);

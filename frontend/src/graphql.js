// A tiny GraphQL-over-HTTP client for /v1/graphql (same origin, the tenant's API key).

export class GraphQLError extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join("; "));
    this.errors = errors;
    this.unauthenticated = errors.some((e) => e.extensions && e.extensions.code === "UNAUTHENTICATED");
  }
}

export async function graphql(apiKey, query, variables = {}) {
  // relative to /dashboard/: keeps a gateway's path prefix
  const response = await fetch(new URL("../v1/graphql", location.href), {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-API-Key": apiKey },
    body: JSON.stringify({ query, variables }),
  });
  if (response.status === 401) {
    // a missing or wrong key is refused before the query runs, with a problem document
    const problem = await response.json().catch(() => ({}));
    const message = problem.detail || "the API key is unknown or revoked";
    throw new GraphQLError([{ message, extensions: { code: "UNAUTHENTICATED" } }]);
  }
  if (!response.ok) throw new Error(`GraphQL HTTP ${response.status}`);
  const body = await response.json();
  if (body.errors && body.errors.length) throw new GraphQLError(body.errors);
  return body.data;
}

export const DASHBOARD_QUERY = `
query Dashboard($since: DateTime!, $until: DateTime!) {
  tenant { id displayName riskThreshold }
  violationHeatmap(since: $since, until: $until) { hour region count }
  violationNetwork(since: $since, until: $until, limit: 300) { contentId region rule count }
  forecast(historyHours: 24, horizonHours: 6) {
    method points { hour violations forecast lower upper }
  }
  violations(last: 200) {
    edges { cursor node { id eventId ruleId regulation severity message contentId occurredAt } }
  }
}`;

export const AGGREGATES_QUERY = `
query Aggregates($since: DateTime!, $until: DateTime!) {
  violationHeatmap(since: $since, until: $until) { hour region count }
  violationNetwork(since: $since, until: $until, limit: 300) { contentId region rule count }
  forecast(historyHours: 24, horizonHours: 6) {
    method points { hour violations forecast lower upper }
  }
}`;

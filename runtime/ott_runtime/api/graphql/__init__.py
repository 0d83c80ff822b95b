"""GraphQL (strawberry) at /v1/graphql: tenant-scoped queries with Relay connections,
mutations, subscriptions over graphql-transport-ws, DataLoaders, depth and cost limits."""

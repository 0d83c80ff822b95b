"""The live dashboard at /dashboard: the bundled front-end (built from frontend/ into
static/) and the statistical forecast its predictive chart shows."""

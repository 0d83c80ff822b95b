"""The HTTP surface: one router per resource (``routers/``), their dependencies, guards,
problem documents and response schemas. The app is assembled in :mod:`ott_runtime.app`."""

"""Alembic migrations, shipped in the package and run programmatically at start."""

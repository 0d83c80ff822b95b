"""The live dashboard's bundled front-end, built from frontend/ into static/ (served by
:mod:`ott_runtime.api.routers.dashboard`)."""

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"

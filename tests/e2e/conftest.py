"""e2e fixtures beyond the control plane (tests/conftest.py has that).

- `jaeger`: one real Jaeger v2 per session (built by `hack/build-tools.sh jaeger`,
  in-memory store, OTLP gRPC + HTTP receivers and the query API on free loopback ports).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ott_runtime.devcluster.jaeger import JaegerServer, JaegerUnavailable, throwaway_jaeger


@pytest.fixture(scope="session")
def jaeger() -> Iterator[JaegerServer]:
    """A running Jaeger v2: `.otel_env(service)` points an SDK at it, `.traces()` and
    `.trace(id)` read back what it stored."""
    try:
        with throwaway_jaeger() as server:
            yield server
    except JaegerUnavailable as error:
        pytest.fail(str(error))

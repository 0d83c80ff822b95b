"""A hostile client against a real `ottc serve`: bodies without a key, oversized bodies and
headers, half-sent requests and idle connections, and errors that must be RFC 9457.

Raw sockets, so the test sees what the server does while the client is still sending.
The server runs with 1-2 s timeouts; every wait here is bounded by the socket timeout.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from .conftest import REGULATION
from .killable_server import KillableServer, write_config

MIB = 1024 * 1024
PROBLEM = "application/problem+json"
NO_SUCH_VIOLATION = "/v1/violations/00000000-0000-0000-0000-000000000000/ack"
TENANT = {
    "apiVersion": "compliance.ott.dev/v1alpha1",
    "kind": "ComplianceTenant",
    "metadata": {"name": "acme"},
    "spec": {
        "displayName": "Acme",
        "regulations": [{"name": "kids-ads"}],
        "encryption": {"fields": ["viewer.id"]},
        "gateway": {"rateLimit": {"perSecond": 10000}},
    },
}
EVENT = {
    "specVersion": "1",
    "id": "e1",
    "type": "ad.impression",
    "time": "2026-11-26T20:00:00Z",
    "viewer": {"id": "v-1", "isKidsProfile": False},
    "ad": {"durationSeconds": 15},
}
TIMEOUTS = ("--header-timeout", "1", "--body-timeout", "2", "--keep-alive-timeout", "1")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KillableServer]:
    root = tmp_path_factory.mktemp("limits")
    config = write_config(root / "config", [REGULATION, TENANT])
    with KillableServer(config, root / "state", args=TIMEOUTS) as running:
        yield running


@pytest.fixture(scope="module")
def key(server: KillableServer) -> str:
    return server.api_key("acme")


def connect(server: KillableServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=20)


def head(method: str, path: str, *headers: str) -> bytes:
    return "\r\n".join([f"{method} {path} HTTP/1.1", "Host: ottc.test", *headers, "", ""]).encode()


def answered(sock: socket.socket) -> bool:
    return bool(select.select([sock], [], [], 0)[0])


def send_until_answered(sock: socket.socket, total: int, chunk: bytes) -> int:
    """Sends up to ``total`` bytes of ``chunk``s, stopping once the server answered or
    closed; returns how many were sent."""
    sent = 0
    while sent < total and not answered(sock):
        try:
            sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            break
        sent += len(chunk)
    return sent


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        assert more, f"closed without an answer (got {data!r})"
        data += more
    raw_head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = raw_head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    while len(body) < int(headers.get("content-length", "0")):
        more = sock.recv(65536)
        assert more, "closed in the middle of the answer"
        body += more
    return int(status_line.split()[1]), headers, body


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed the connection (waits up to the socket timeout)."""
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True


@pytest.mark.parametrize("path", ["/v1/graphql", NO_SUCH_VIOLATION, "/v1/events"])
@pytest.mark.parametrize("presented", ["none", "wrong"])
def test_a_large_body_without_a_valid_key_is_refused_before_it_is_read(
    server: KillableServer, path: str, presented: str
) -> None:
    total = 100 * MIB
    key_header = (
        ["X-API-Key: ottc_acme_wrong0000000000000000000000"] if presented == "wrong" else []
    )
    with connect(server) as sock:
        sock.sendall(
            head("POST", path, "Content-Type: application/json", f"Content-Length: {total}",
                 *key_header)
        )  # fmt: skip
        sent = send_until_answered(sock, total, b" " * (256 * 1024))
        status, headers, body = read_response(sock)
        assert status == 401, body
        assert headers["content-type"] == PROBLEM
        assert headers["www-authenticate"].startswith("Bearer")
        assert headers["connection"] == "close"  # the server reads none of the rest
        assert closed_by_server(sock)
    assert sent < total, "the server answered only after the whole body had arrived"


def test_a_body_over_the_route_limit_is_413_declared_or_streamed(
    server: KillableServer, key: str
) -> None:
    declared = 64 * MIB  # over the 1 MiB of GraphQL and ingest (and any socket buffer)
    with connect(server) as sock:
        sock.sendall(
            head("POST", "/v1/graphql", f"X-API-Key: {key}", "Content-Type: application/json",
                 f"Content-Length: {declared}")
        )  # fmt: skip
        sent = send_until_answered(sock, declared, b" " * 65536)
        status, headers, body = read_response(sock)
    assert (status, headers["content-type"]) == (413, PROBLEM), body
    assert sent < declared
    # chunked: no length to check up front; counted as it is read (64 KiB on this route)
    chunk = b"4000\r\n" + b" " * 0x4000 + b"\r\n"
    with connect(server) as sock:
        sock.sendall(
            head("POST", NO_SUCH_VIOLATION, f"X-API-Key: {key}", "Content-Type: application/json",
                 "Transfer-Encoding: chunked")
        )  # fmt: skip
        sent = send_until_answered(sock, 64 * MIB, chunk)
        status, headers, body = read_response(sock)
        assert closed_by_server(sock)
    assert (status, headers["content-type"]) == (413, PROBLEM), body
    assert b"65536 bytes" in body
    assert sent < 64 * MIB


def test_oversized_headers_are_431(server: KillableServer) -> None:
    with connect(server) as sock:  # in one piece
        sock.sendall(head("GET", "/healthz", "X-Big: " + "a" * 40_000))
        status, headers, body = read_response(sock)
        assert (status, headers["content-type"]) == (431, PROBLEM), body
        assert closed_by_server(sock)
    with connect(server) as sock:  # a header that never ends is cut off at the limit
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: ottc.test\r\nX-Endless: ")
        sent = send_until_answered(sock, 8 * MIB, b"a" * 8192)
        status, _, body = read_response(sock)
    assert status == 431, body
    assert sent < 8 * MIB


def test_slow_half_sent_and_idle_connections_are_closed(server: KillableServer, key: str) -> None:
    with connect(server) as sock:  # headers half-sent, then nothing
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: ottc.test\r\n")
        status, headers, body = read_response(sock)
        assert (status, headers["content-type"]) == (408, PROBLEM), body
        assert closed_by_server(sock)
    with connect(server) as sock:  # connected, never sent a byte: closed without an answer
        assert closed_by_server(sock)
    with connect(server) as sock:  # slowloris: a header byte at a time, always busy
        request = head("GET", "/healthz", "X-Slow: " + "a" * 200)
        sent = 0
        while sent < len(request) and not answered(sock):
            sock.sendall(request[sent : sent + 1])
            sent += 1
            time.sleep(0.05)
        assert sent < len(request)
        status, _, body = read_response(sock)
        assert status == 408, body
        assert closed_by_server(sock)
    with connect(server) as sock:  # the body stops after its first byte
        sock.sendall(
            head("POST", "/v1/events", f"X-API-Key: {key}", "Content-Type: application/json",
                 "Content-Length: 100") + b"["
        )  # fmt: skip
        status, headers, body = read_response(sock)
        assert (status, headers["content-type"]) == (408, PROBLEM), body
        assert closed_by_server(sock)
    with connect(server) as sock:  # a body the route answered without reading, trickling on
        sock.sendall(
            head("POST", "/v1/notifications/dead-letters/none/retry", f"X-API-Key: {key}",
                 "Content-Length: 100") + b"{"
        )  # fmt: skip
        assert read_response(sock)[0] == 404
        sent = 1  # every byte resets uvicorn's keep-alive timer; the body timeout holds
        while sent < 100 and not answered(sock):
            try:
                sock.sendall(b" ")
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 1
            time.sleep(0.1)
        assert sent < 100
        assert closed_by_server(sock)
    with connect(server) as sock:  # a kept-alive connection left idle after its answer
        sock.sendall(head("GET", "/healthz"))
        assert read_response(sock)[0] == 200
        assert closed_by_server(sock)


def test_graphql_and_ingest_errors_are_problems(server: KillableServer, key: str) -> None:
    query = "{ tenant { id } }"
    with httpx.Client(base_url=server.base_url, headers={"X-API-Key": key}) as http:
        untyped = http.post("/v1/graphql", content=b'{"query": "{ tenant { id } }"}')
        malformed = http.post(
            "/v1/graphql", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        no_query = http.get("/v1/graphql", headers={"Accept": "application/json"})
        by_get = http.get("/v1/graphql", params={"query": query})
        events_text = http.post("/v1/events", content=b"[]", headers={"Content-Type": "text/plain"})
        events_json = http.post("/v1/events", json=[EVENT])
        events_untyped = http.post("/v1/events", content=b"[]")
    with httpx.Client(base_url=server.base_url) as anonymous:
        keyless = anonymous.post("/v1/graphql", json={"query": query})
        ide = anonymous.get("/v1/graphql", headers={"Accept": "text/html"})
    for response, status in (
        (untyped, 415), (malformed, 400), (no_query, 400), (keyless, 401), (events_text, 415),
    ):  # fmt: skip
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["status"] == status
    assert malformed.json()["errors"][0]["field"] == "body"
    assert no_query.json()["errors"][0]["field"] == "query"
    assert by_get.json() == {"data": {"tenant": {"id": "acme"}}}
    assert events_json.status_code == 200, events_json.text
    # a body without Content-Type is read as JSON (clients that send bytes alone)
    assert (events_untyped.status_code, events_untyped.json()["title"]) == (422, "Empty batch")
    assert ide.status_code == 200  # the GraphiQL page is public
    assert ide.headers["content-type"].startswith("text/html")

"""`ottc serve` for real: uvicorn on loopback, standalone YAML config, TLS 1.3 only."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ott_runtime.app import Runtime
from ott_runtime.config import standalone_config
from ott_runtime.server import build_server
from ott_runtime.service import RuntimeService

from .conftest import REGULATION, _free_port

TENANT = {
    "apiVersion": "compliance.ott.dev/v1alpha1",
    "kind": "ComplianceTenant",
    "metadata": {"name": "tls-co"},
    "spec": {
        "displayName": "TLS Co",
        "regulations": [{"name": "kids-ads"}],
        "encryption": {"fields": ["viewer.id"]},
    },
}
EVENT = {
    "specVersion": "1",
    "id": "s1",
    "type": "ad.impression",
    "time": "2026-11-26T20:00:00Z",
    "viewer": {"id": "v", "isKidsProfile": True},
    "ad": {"targeted": True, "durationSeconds": 15},
}


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "all.yaml").write_text(yaml.safe_dump_all([REGULATION, TENANT]))
    return folder


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "tls.crt", folder / "tls.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture
async def tls_server(config_dir: Path, tmp_path: Path) -> AsyncIterator[tuple[int, Path, str]]:
    cert_file, key_file = _self_signed(tmp_path)
    config = standalone_config([config_dir], tmp_path / "state")
    service = RuntimeService(
        config.database_url, config.runtimes, config.keys, api_keys=config.api_keys
    )
    port = _free_port()
    server = build_server(
        Runtime(service), port=port, tls_cert=cert_file, tls_key=key_file, log_level="warning"
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.05)
    yield port, cert_file, config.api_keys["tls-co"][0]
    server.should_exit = True
    await task


async def test_tls_1_3_client_is_served_and_tls_1_2_client_refused(
    tls_server: tuple[int, Path, str],
) -> None:
    port, cert_file, api_key = tls_server
    modern = ssl.create_default_context(cafile=str(cert_file))
    async with httpx.AsyncClient(verify=modern, base_url=f"https://localhost:{port}") as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        response = await client.post("/v1/events", json=[EVENT], headers={"X-API-Key": api_key})
        assert response.status_code == 200
        assert response.json()["violations"][0]["ruleId"] == "no-targeted-ads-to-kids"
    old = ssl.create_default_context(cafile=str(cert_file))
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    # the server answers a TLS 1.2 ClientHello with a protocol_version alert and closes:
    # the client sees an SSL error or a reset, depending on timing
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        await asyncio.open_connection("127.0.0.1", port, ssl=old, server_hostname="localhost")
    _, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=modern, server_hostname="localhost"
    )
    assert writer.get_extra_info("ssl_object").version() == "TLSv1.3"
    writer.close()
    plain = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}")
    async with plain:  # no plaintext fallback on the TLS port either
        with pytest.raises(httpx.HTTPError):
            await plain.get("/healthz")


def test_ottc_serve_command_serves_the_yaml_config(config_dir: Path, tmp_path: Path) -> None:
    port, state = _free_port(), tmp_path / "state"
    ottc = Path(sys.executable).with_name("ottc")
    env = {**os.environ, "DATABASE_URL": ""}
    env.pop("DATABASE_URL")
    process = subprocess.Popen(
        [
            str(ottc),
            "serve",
            "--config",
            str(config_dir),
            "--state-dir",
            str(state),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "ottc serve did not become ready"
            time.sleep(0.2)
        api_key = json.loads((state / "api-keys.json").read_text())["tls-co"]
        assert (state / "api-keys.json").stat().st_mode & 0o777 == 0o600
        headers = {"X-API-Key": api_key}
        posted = httpx.post(f"http://127.0.0.1:{port}/v1/events", json=[EVENT], headers=headers)
        assert posted.status_code == 200, posted.text
        listed = httpx.get(f"http://127.0.0.1:{port}/v1/violations", headers=headers).json()
        assert [v["eventId"] for v in listed["items"]] == ["s1"]
    finally:
        process.send_signal(signal.SIGTERM)  # what Kubernetes sends
        output = process.communicate(timeout=30)[0]
    assert process.returncode == 0, output
    assert "tls-co" in output  # the demo API key table names the tenant
    assert (state / "ottc.db").exists()
    assert (state / "keys" / "tls-co.json").exists()

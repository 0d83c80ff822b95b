"""TLS for the runtime's own listener: TLS 1.3 only whenever a certificate is configured."""

from __future__ import annotations

import ssl
from pathlib import Path


def server_context(certfile: Path, keyfile: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(str(certfile), str(keyfile))
    return context

"""The certificates and keys of a throw-away control plane.

One CA signs everything: the kube-apiserver serving certificate (127.0.0.1 and
localhost) and the client certificates of the admin and of
kube-controller-manager. Client certificates rather than a static token file,
because the group comes from the certificate (`O=system:masters`), every client
(kubectl, helm, the Python client, kopf) understands them, and kube-controller-
manager must authenticate as `system:kube-controller-manager` anyway for the
bootstrap RBAC roles to apply to it.

ECDSA P-256 keys: generated in microseconds (RSA takes tens of milliseconds),
and kube-apiserver signs service-account tokens with ES256 just as well.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ADMIN_USER = "ottc-admin"
ADMIN_GROUP = "system:masters"
CONTROLLER_MANAGER_USER = "system:kube-controller-manager"
VALIDITY = datetime.timedelta(days=365)


@dataclass(frozen=True)
class KeyPair:
    """A PEM certificate and its PEM private key."""

    cert_pem: bytes
    key_pem: bytes


@dataclass(frozen=True)
class ClusterPki:
    """Everything a control plane needs, as PEM bytes."""

    ca: KeyPair
    apiserver: KeyPair
    admin: KeyPair
    controller_manager: KeyPair
    service_account_private_pem: bytes
    service_account_public_pem: bytes


@dataclass(frozen=True)
class PkiFiles:
    """Where `write_pki` put each piece."""

    ca_cert: Path
    ca_key: Path
    apiserver_cert: Path
    apiserver_key: Path
    service_account_private: Path
    service_account_public: Path
    admin_cert: Path
    admin_key: Path


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(parts)


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    # Backdated a minute so that a clock a little behind does not reject a fresh cert.
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + VALIDITY)
    )


def _make_ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _new_key()
    name = _name("ottc-dev-cluster-ca")
    cert = (
        _builder(name, name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _issue(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    sans: list[x509.GeneralName] | None = None,
) -> KeyPair:
    key = _new_key()
    builder = (
        _builder(subject, ca_cert.subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def generate_pki() -> ClusterPki:
    """A fresh CA and every certificate and key the control plane uses."""
    ca_key, ca_cert = _make_ca()
    apiserver_sans: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.DNSName("localhost"),
        x509.DNSName("kubernetes"),
        x509.DNSName("kubernetes.default"),
        x509.DNSName("kubernetes.default.svc"),
    ]
    service_account_key = _new_key()
    return ClusterPki(
        ca=KeyPair(ca_cert.public_bytes(serialization.Encoding.PEM), _key_pem(ca_key)),
        apiserver=_issue(
            ca_key,
            ca_cert,
            _name("kube-apiserver"),
            ExtendedKeyUsageOID.SERVER_AUTH,
            apiserver_sans,
        ),
        admin=_issue(
            ca_key, ca_cert, _name(ADMIN_USER, ADMIN_GROUP), ExtendedKeyUsageOID.CLIENT_AUTH
        ),
        controller_manager=_issue(
            ca_key, ca_cert, _name(CONTROLLER_MANAGER_USER), ExtendedKeyUsageOID.CLIENT_AUTH
        ),
        service_account_private_pem=_key_pem(service_account_key),
        service_account_public_pem=service_account_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )


def pki_files(directory: Path) -> PkiFiles:
    """Where the PKI of a control plane lives inside `directory`."""
    return PkiFiles(
        ca_cert=directory / "ca.crt",
        ca_key=directory / "ca.key",
        apiserver_cert=directory / "apiserver.crt",
        apiserver_key=directory / "apiserver.key",
        service_account_private=directory / "sa.key",
        service_account_public=directory / "sa.pub",
        admin_cert=directory / "admin.crt",
        admin_key=directory / "admin.key",
    )


def write_pki(pki: ClusterPki, directory: Path) -> PkiFiles:
    """Write the files the components (and curl-minded humans) read; keys are 0600."""
    directory.mkdir(parents=True, exist_ok=True)
    files = pki_files(directory)
    contents = {
        files.ca_cert: pki.ca.cert_pem,
        files.ca_key: pki.ca.key_pem,
        files.apiserver_cert: pki.apiserver.cert_pem,
        files.apiserver_key: pki.apiserver.key_pem,
        files.service_account_private: pki.service_account_private_pem,
        files.service_account_public: pki.service_account_public_pem,
        files.admin_cert: pki.admin.cert_pem,
        files.admin_key: pki.admin.key_pem,
    }
    for path, data in contents.items():
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600 if path.suffix == ".key" else 0o644)
        path.write_bytes(data)
    return files

"""A private CA and a server certificate for the sandbox's HTTPS on 127.0.0.1, ::1 and localhost.

`ensure_sandbox_tls(Path("build/sandbox/tls"))` writes `ca.pem`, `server.pem` and `server-key.pem` (mode 0600) once and
reuses them while they are valid. The CA's private key is never written, so nothing else can be signed with it.

How clients come to trust the sandbox:
- code you control: `verify=tls.client_context()` (httpx) or `verify=str(tls.ca_path)` (requests, MSAL's `verify=`).
- httpx 0.28 with default `verify=True` and `trust_env=True` reads `SSL_CERT_FILE` (or `SSL_CERT_DIR`).
- requests (used by MSAL) reads `REQUESTS_CA_BUNDLE` (or `CURL_CA_BUNDLE`); it ignores `SSL_CERT_FILE`, since it
  uses certifi's bundle rather than OpenSSL's default paths.
Pointing those variables at `ca.pem` trusts only the sandbox CA for that process, which suits a sandbox run.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_DIRECTORY: Final = Path("build/sandbox/tls")
SERVER_NAMES: Final = ("localhost",)
SERVER_ADDRESSES: Final = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))
CA_LIFETIME: Final = dt.timedelta(days=3650)
SERVER_LIFETIME: Final = dt.timedelta(days=397)
RENEW_BEFORE: Final = dt.timedelta(days=7)


@dataclass(frozen=True)
class SandboxTls:
    """Paths of the sandbox CA certificate, server certificate and server key, and SSL contexts built from them."""

    ca_path: Path
    cert_path: Path
    key_path: Path

    def server_context(self) -> ssl.SSLContext:
        """A TLS server context presenting the sandbox server certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_path, self.key_path)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A TLS client context that trusts the sandbox CA (and nothing else), with hostname checks on."""
        return ssl.create_default_context(cafile=str(self.ca_path))


def ensure_sandbox_tls(directory: Path = DEFAULT_DIRECTORY) -> SandboxTls:
    """Return the sandbox CA and server certificate in `directory`, creating them unless valid ones are there.

    Args:
        directory: where `ca.pem`, `server.pem` and `server-key.pem` live; created if missing.

    Returns:
        The paths and context builders.

    Raises:
        OSError: the directory or files cannot be written.
    """
    tls = SandboxTls(
        ca_path=directory / "ca.pem", cert_path=directory / "server.pem", key_path=directory / "server-key.pem"
    )
    if not _is_valid(tls):
        _generate(tls)
    return tls


def _is_valid(tls: SandboxTls) -> bool:
    try:
        ca = x509.load_pem_x509_certificate(tls.ca_path.read_bytes())
        cert = x509.load_pem_x509_certificate(tls.cert_path.read_bytes())
        key = serialization.load_pem_private_key(tls.key_path.read_bytes(), password=None)
        cert.verify_directly_issued_by(ca)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    now = dt.datetime.now(dt.UTC)
    fresh = all(c.not_valid_before_utc <= now and now + RENEW_BEFORE < c.not_valid_after_utc for c in (ca, cert))
    same_key = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    covered = set(SERVER_NAMES) <= set(names.get_values_for_type(x509.DNSName)) and set(SERVER_ADDRESSES) <= set(
        names.get_values_for_type(x509.IPAddress)
    )
    return fresh and same_key and covered


def _generate(tls: SandboxTls) -> None:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Grading assistant sandbox CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + CA_LIFETIME)
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
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    alt_names: list[x509.GeneralName] = [x509.DNSName(name) for name in SERVER_NAMES]
    alt_names += [x509.IPAddress(address) for address in SERVER_ADDRESSES]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + SERVER_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    tls.ca_path.parent.mkdir(parents=True, exist_ok=True)
    key_pem = server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write(tls.key_path, key_pem, mode=0o600)
    _write(tls.cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    _write(tls.ca_path, ca.public_bytes(serialization.Encoding.PEM), mode=0o644)


def _write(path: Path, data: bytes, *, mode: int) -> None:
    """Write atomically (a temporary file renamed into place) so a concurrent reader never sees half a file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    os.chmod(temporary, mode)
    os.replace(temporary, path)

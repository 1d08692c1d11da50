"""A throwaway TLS identity for the per-job policy proxy on 127.0.0.1.

client-go sends no bearer token (nor basic auth) over plain HTTP, so the proxy speaks TLS: a fresh P-256
key and a self-signed certificate for 127.0.0.1, valid for a day, made per job and never stored.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed_pem(common_name: str, valid_for: datetime.timedelta) -> tuple[bytes, bytes]:
    """A fresh P-256 key and a self-signed CA certificate for 127.0.0.1: ``(cert_pem, key_pem)``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + valid_for)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def server_context() -> tuple[ssl.SSLContext, bytes]:
    """A server ``SSLContext`` for 127.0.0.1 and the PEM certificate a client should trust."""
    cert_pem, key_pem = self_signed_pem("budportal-policy-proxy", datetime.timedelta(days=1))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # ssl loads a key only from a file: 0600, loaded, removed at once.
    fd, path = tempfile.mkstemp(prefix="budportal-proxy-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(cert_pem + key_pem)
        context.load_cert_chain(path)
    finally:
        os.unlink(path)
    return context, cert_pem

"""Encryption at rest for kubeconfigs: Fernet with a key derived (HKDF-SHA256) from the settings.

The key material is ``settings.KUBECONFIG_ENCRYPTION_KEY`` when set, else ``SECRET_KEY``. Deriving rather
than using the secret directly keeps the Fernet key independent of every other use of ``SECRET_KEY``.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

_SALT = b"budportal.clusterjobs"
_INFO = b"kubeconfig-encryption-v1"


class DecryptionError(Exception):
    """The stored kubeconfig cannot be decrypted (the encryption key changed)."""


@lru_cache(maxsize=4)
def _fernet(material: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=_INFO).derive(material.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def _current() -> Fernet:
    return _fernet(settings.KUBECONFIG_ENCRYPTION_KEY or settings.SECRET_KEY)


def encrypt(text: str) -> bytes:
    return _current().encrypt(text.encode())


def decrypt(token: bytes) -> str:
    try:
        return _current().decrypt(token).decode()
    except InvalidToken:
        # Never echo the token: say what to do instead.
        raise DecryptionError(
            "the stored kubeconfig cannot be decrypted; was KUBECONFIG_ENCRYPTION_KEY or SECRET_KEY changed?"
        ) from None

"""Encryption at rest for kubeconfigs and secret Helm values: Fernet with a key derived (HKDF-SHA256) from the
settings, one key per use.

The key material is ``settings.KUBECONFIG_ENCRYPTION_KEY`` when set, else ``SECRET_KEY``. Deriving rather
than using the secret directly keeps the Fernet key independent of every other use of ``SECRET_KEY``.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

_SALT = b"budportal.clusterjobs"
_INFO = b"kubeconfig-encryption-v1"
_VALUES_INFO = b"helm-value-encryption-v1"
# A secret Helm value is stored, in DAGs, step params and job configs alike, as this prefix + a Fernet token;
# only the job that runs Helm turns it back into the value (``unseal_tree``).
SEALED_PREFIX = "budportal-sealed:v1:"
SECRET_MASK = "<secret>"


class DecryptionError(Exception):
    """The stored kubeconfig cannot be decrypted (the encryption key changed)."""


@lru_cache(maxsize=8)
def _fernet(material: str, info: bytes = _INFO) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=info).derive(material.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def _current(info: bytes = _INFO) -> Fernet:
    return _fernet(settings.KUBECONFIG_ENCRYPTION_KEY or settings.SECRET_KEY, info)


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


# --- secret Helm values --------------------------------------------------------------------------------
def seal(value: Any) -> str:
    """A secret value as a sealed string (strings stay strings; numbers and booleans become their text)."""
    text = value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    return SEALED_PREFIX + _current(_VALUES_INFO).encrypt(text.encode()).decode()


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


def unseal(value: str) -> str:
    try:
        return _current(_VALUES_INFO).decrypt(value.removeprefix(SEALED_PREFIX).encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "a secret value cannot be decrypted; was KUBECONFIG_ENCRYPTION_KEY or SECRET_KEY changed?"
        ) from None


def _walk(value: Any, leaf: Any) -> Any:
    if isinstance(value, dict):
        return {key: _walk(child, leaf) for key, child in value.items()}
    if isinstance(value, list):
        return [_walk(child, leaf) for child in value]
    return leaf(value) if is_sealed(value) else value


def unseal_tree(value: Any) -> Any:
    """``value`` with every sealed string decrypted: only for handing values to Helm."""
    return _walk(value, unseal)


def mask_tree(value: Any) -> Any:
    """``value`` with every sealed string shown as ``<secret #xxxxxxxx>``: the tag (a hash of the token, not of
    the secret) changes when the secret is rotated, so a diff can say so without showing it."""
    return _walk(value, lambda token: f"<secret #{hashlib.sha256(token.encode()).hexdigest()[:8]}>")


def sealed_plaintexts(value: Any) -> list[str]:
    """The decrypted secrets inside ``value``, to redact them from Helm's messages and rendered diffs."""
    found: list[str] = []
    _walk(value, lambda token: found.append(unseal(token)))
    return found

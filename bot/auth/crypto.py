"""Authenticated encryption (AES-256-GCM) of per-teacher token caches at rest.

A sealed blob is `b"\\x01" + nonce (12 bytes) + ciphertext+tag`. The storage key (`{tid}.{oid}`) is bound in as
associated data, so a blob copied to another teacher's key does not decrypt.
"""

from __future__ import annotations

import logging
import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.settings import Settings

logger = logging.getLogger(__name__)

_FORMAT: Final = b"\x01"
_NONCE_BYTES: Final = 12
KEY_BYTES: Final = 32


class UnreadableCiphertext(Exception):
    """A sealed blob does not decrypt with this key (another key, another owner, or damaged)."""


class CacheCipher:
    """Seals and opens token-cache blobs with one AES-256-GCM key."""

    def __init__(self, key: bytes) -> None:
        """Use a 32-byte key.

        Raises:
            ValueError: the key is not 32 bytes.
        """
        if len(key) != KEY_BYTES:
            raise ValueError("the token cache key must be 32 bytes")
        self._aead = AESGCM(key)

    @classmethod
    def from_settings(cls, settings: Settings) -> CacheCipher:
        """The cipher for TOKEN_CACHE_KEY; an ephemeral random key when it is unset (sandbox only).

        Args:
            settings: the application settings (their validation already requires the key against real Entra).

        Returns:
            The cipher.
        """
        key = settings.token_cache_key_bytes
        if key is None:
            logger.debug("TOKEN_CACHE_KEY is not set: using an ephemeral key; token caches last for this process only")
            key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        return cls(key)

    def __repr__(self) -> str:
        return "CacheCipher(key=***)"

    def seal(self, plaintext: bytes, *, owner: str) -> bytes:
        """Encrypt `plaintext` for `owner` (bound as associated data)."""
        nonce = os.urandom(_NONCE_BYTES)
        return _FORMAT + nonce + self._aead.encrypt(nonce, plaintext, owner.encode())

    def open(self, sealed: bytes, *, owner: str) -> bytes:
        """Decrypt a blob sealed for `owner`.

        Raises:
            UnreadableCiphertext: wrong key, wrong owner, unknown format or damaged data.
        """
        if len(sealed) < 1 + _NONCE_BYTES + 16 or sealed[:1] != _FORMAT:
            raise UnreadableCiphertext("unknown token cache format")
        nonce = sealed[1 : 1 + _NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, sealed[1 + _NONCE_BYTES :], owner.encode())
        except InvalidTag:
            raise UnreadableCiphertext("the token cache does not decrypt with this key") from None

"""Per-teacher MSAL token caches, encrypted at rest and persisted through the `Store`.

Each teacher (`tid.oid`) has their own `msal.SerializableTokenCache`, stored under namespace `token_cache`, key
`{tid}.{oid}`, as AES-GCM-sealed bytes. Writes are optimistic: a save names the version it loaded, and when another
writer (another bot instance, or a sign-out) got there first, that writer's state stands and ours is dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

import msal  # pyright: ignore[reportMissingTypeStubs]

from bot.auth.crypto import CacheCipher, UnreadableCiphertext
from bot.storage.protocol import Store, VersionConflict
from bot.turn import Actor

logger = logging.getLogger(__name__)

NAMESPACE: Final = "token_cache"
CACHE_TTL: Final = timedelta(days=90)
"""How long an untouched cache is kept: Entra's refresh tokens expire after 90 days of inactivity."""


def cache_key(actor: Actor) -> str:
    """The storage key of a teacher's cache: `{tid}.{oid}`, lower-case."""
    return f"{actor.tenant_id}.{actor.user_id}".lower()


@dataclass
class LoadedCache:
    """A teacher's cache as loaded, with the store version it was read at (0: there was none)."""

    cache: msal.SerializableTokenCache
    version: int

    def __repr__(self) -> str:
        return f"LoadedCache(version={self.version})"


class TokenCacheStore:
    """Loads, saves and deletes per-teacher token caches."""

    def __init__(self, store: Store, cipher: CacheCipher, *, ttl: timedelta = CACHE_TTL) -> None:
        """Persist through `store`, sealing with `cipher`.

        Args:
            store: the shared Store.
            cipher: the AES-GCM cipher (TOKEN_CACHE_KEY).
            ttl: how long a cache lives after its last write.
        """
        self._store = store
        self._cipher = cipher
        self._ttl = ttl

    async def load(self, actor: Actor) -> LoadedCache:
        """Read a teacher's cache; an empty one when there is none or it no longer decrypts.

        Raises:
            StorageUnavailable: the store cannot be read.
        """
        key = cache_key(actor)
        document = await self._store.get(NAMESPACE, key)
        cache = msal.SerializableTokenCache()
        if document is None:
            return LoadedCache(cache, 0)
        if not isinstance(document.value, bytes):
            logger.warning("token cache document is not bytes; treating the teacher as signed out")
            return LoadedCache(cache, document.version)
        try:
            state = self._cipher.open(document.value, owner=key)
            cache.deserialize(state.decode())  # pyright: ignore[reportUnknownMemberType]
        except (UnreadableCiphertext, UnicodeDecodeError, ValueError):
            logger.warning("token cache does not decrypt (TOKEN_CACHE_KEY changed?); the teacher must sign in again")
            return LoadedCache(msal.SerializableTokenCache(), document.version)
        return LoadedCache(cache, document.version)

    async def save(self, actor: Actor, loaded: LoadedCache) -> bool:
        """Write the cache back if MSAL changed it, unless another writer changed the stored one meanwhile.

        Args:
            actor: the teacher.
            loaded: what `load` returned, after MSAL used it.

        Returns:
            True if written; False if unchanged or another writer's state stands.

        Raises:
            StorageUnavailable: the store cannot be written.
        """
        if not loaded.cache.has_state_changed:
            return False
        key = cache_key(actor)
        sealed = self._cipher.seal(loaded.cache.serialize().encode(), owner=key)
        try:
            loaded.version = await self._store.put(
                NAMESPACE, key, sealed, expected_version=loaded.version, ttl=self._ttl
            )
        except VersionConflict:
            logger.debug("token cache changed by another writer; keeping theirs")
            return False
        loaded.cache.has_state_changed = False
        return True

    async def delete(self, actor: Actor) -> bool:
        """Forget a teacher's tokens (sign-out).

        Returns:
            True if there was a cache.

        Raises:
            StorageUnavailable: the store cannot be written.
        """
        return await self._store.delete(NAMESPACE, cache_key(actor))

"""The secrets of API tokens and invitation links, and what is stored of them (a leaf: stdlib only,
so that authentication can use it without importing the services)."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "aep_"  # noqa: S105 (not a secret) so that secret scanners (and people) recognise a leaked token
PREFIX_SHOWN = len(TOKEN_PREFIX) + 8
MAX_KEY_LENGTH = 200  # longer Authorization values are refused before hashing


def digest(secret: str) -> str:
    """What is stored of a secret and looked up by: its SHA-256, hex. A plain hash is enough for a
    secret of 256 random bits: there is nothing to guess, so no slow hash is needed."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret(prefix: str = TOKEN_PREFIX) -> str:
    """`prefix` and 32 random bytes, URL-safe base64 (43 characters)."""
    return prefix + secrets.token_urlsafe(32)

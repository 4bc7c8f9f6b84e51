"""Short content digests (BLAKE2b, 160 bits) that name items, weights and cache entries."""

from __future__ import annotations

import hashlib
from pathlib import Path


def digest(*parts: bytes | str) -> str:
    """The hex digest of ``parts``, each one delimited so that ('ab', 'c') and ('a', 'bc') differ."""
    h = hashlib.blake2b(digest_size=20)
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\x00")
    return h.hexdigest()


def file_digest(path: str | Path) -> str:
    """The digest of a file's bytes (read in 1 MiB blocks)."""
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

"""Document content storage: a local directory by default, content-addressed by SHA-256."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Protocol


class DocumentStore(Protocol):
    """Where document bytes live; metadata stays in the database."""

    def put(self, sha256: str, content: bytes) -> tuple[str, bool]:
        """Store the bytes; return the storage key and whether this call created it."""
        ...

    def get(self, key: str) -> bytes:
        """The stored bytes."""
        ...

    def delete(self, key: str) -> None:
        """Remove the bytes (used when the database transaction fails)."""
        ...


class LocalDocumentStore:
    """Files under `root/<sha[:2]>/<sha>`; writes go to a temporary file then rename."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        prefix, _, name = key.partition("/")
        if len(prefix) != 2 or not name.isalnum() or not name.startswith(prefix):
            raise ValueError("invalid storage key")
        return self.root / prefix / name

    def put(self, sha256: str, content: bytes) -> tuple[str, bool]:
        """Idempotent: the same content always has the same key."""
        key = f"{sha256[:2]}/{sha256}"
        path = self._path(key)
        if path.exists():
            return key, False
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key, True

    def get(self, key: str) -> bytes:
        """The bytes of a stored document."""
        return self._path(key).read_bytes()

    def delete(self, key: str) -> None:
        """Remove a stored document if present."""
        self._path(key).unlink(missing_ok=True)

"""The product catalog file shipped with the package, and its loader."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from los.domain.errors import CatalogError
from los.domain.products import Catalog, parse_catalog

CATALOG_RESOURCE = "catalog.toml"


def load_catalog(path: Path | None = None) -> Catalog:
    """Read the catalog from `path`, or the one shipped in this package; fail loudly if bad."""
    try:
        if path is None:
            text = resources.files(__name__).joinpath(CATALOG_RESOURCE).read_text("utf-8")
        else:
            text = path.read_text("utf-8")
    except OSError as exc:
        raise CatalogError(
            f"cannot read product catalog {path or CATALOG_RESOURCE}: {exc}"
        ) from exc
    return parse_catalog(text)

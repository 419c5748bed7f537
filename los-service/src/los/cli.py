"""The `los` command: serve, migrate, worker, token, outbox and dead-letter tools."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from los.settings import LosSettings
from servicekit.cli import run_cli


def main(argv: Sequence[str] | None = None) -> None:
    """Run one `los` command and exit with its status."""
    sys.exit(
        run_cli(
            argv,
            prog="los",
            settings_factory=LosSettings,
            app_path="los.bootstrap:app_factory",
            migrations="los:migrations",
        )
    )


if __name__ == "__main__":  # pragma: no cover
    main()

"""The `lms` command: serve, migrate, worker, token, outbox and dead-letter tools."""

from __future__ import annotations

from collections.abc import Sequence

from lms.settings import LmsSettings
from servicekit.cli import run_cli


def main(argv: Sequence[str] | None = None) -> int:
    """Run one LMS command."""
    return run_cli(
        argv,
        prog="lms",
        settings_factory=LmsSettings,
        app_path="lms.bootstrap:app_factory",
        migrations="lms:migrations",
    )


if __name__ == "__main__":
    raise SystemExit(main())

"""Revision 0002 re-keys applicants onboarded under 0001 by issuing country, on SQLite."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from servicekit.migrations import upgrade

pytestmark = pytest.mark.integration


def test_0002_rekeys_existing_applicants(tmp_path: Path) -> None:
    path = tmp_path / "los.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade("los:migrations", url, "0001")
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO applicants (id, party_ref, first_name, last_name, date_of_birth,"
            " national_id, national_id_key, email, phone, address, employment_status,"
            " monthly_income, created_at, created_by) VALUES ('a1', 'PTY-1', 'Ada', 'L',"
            " '1985-06-15', '123-45-6789', '123456789', 'a@b.co', '+15550000000',"
            " '{\"country\": \"US\"}', 'employed', '1000.00', '2025-01-01 00:00:00.000000', 'x')"
        )
    upgrade("los:migrations", url)
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT national_id_key, id_country FROM applicants").fetchone()
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert row == ("US:123456789", "US")
    assert {"checks", "documents", "audit_log"} <= tables

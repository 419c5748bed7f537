"""LMS settings and wiring defaults."""

from datetime import time

import pytest
from pydantic import ValidationError

from lms.bootstrap import loan_disbursed_consumer
from lms.settings import LmsSettings
from servicekit.clock import SystemClock


def test_defaults(monkeypatch):
    monkeypatch.delenv("LMS_PORT", raising=False)
    settings = LmsSettings()
    assert settings.service_name == "lms"
    assert settings.port == 8002
    assert settings.database_url == "sqlite+aiosqlite:///var/lms.db"


def test_env_prefix(monkeypatch):
    monkeypatch.setenv("LMS_PORT", "9000")
    monkeypatch.setenv("LOS_PORT", "1")
    assert LmsSettings().port == 9000


def test_consumer_spec():
    spec = loan_disbursed_consumer(SystemClock())
    assert spec.name == "loan-disbursed-consumer"
    assert spec.group_id == "lms.loan-disbursed"
    assert list(spec.topics) == ["lending.loan-disbursed.v1"]
    assert set(spec.handlers) == {"LoanDisbursed"}


def test_cob_schedule_settings(monkeypatch):
    monkeypatch.delenv("LMS_COB_SCHEDULE_ENABLED", raising=False)
    assert LmsSettings().cob_schedule_enabled is False
    monkeypatch.setenv("LMS_COB_SCHEDULE_ENABLED", "true")
    monkeypatch.setenv("LMS_COB_CUTOFF", "01:15")
    monkeypatch.setenv("LMS_COB_TIMEZONE", "Europe/Berlin")
    settings = LmsSettings()
    assert settings.cob_schedule_enabled is True
    assert settings.cob_cutoff == time(1, 15)
    assert settings.cob_timezone == "Europe/Berlin"


def test_cob_timezone_must_be_known():
    with pytest.raises(ValidationError, match="unknown time zone"):
        LmsSettings(cob_timezone="Mars/Olympus_Mons")

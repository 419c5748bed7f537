"""LMS settings and wiring defaults."""

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

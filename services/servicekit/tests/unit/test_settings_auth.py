"""Settings refuse the development secret in production; tokens are verified strictly."""

from __future__ import annotations

import time

import jwt
import pytest
from pydantic import ValidationError

from servicekit.auth import ROLES, Principal, decode_token, issue_token
from servicekit.errors import ProblemError
from servicekit.settings import DEVELOPMENT_SECRET, ServiceSettings

SECRET = "s" * 40


def test_production_refuses_development_secret() -> None:
    with pytest.raises(ValidationError, match="jwt_secret must be set explicitly"):
        ServiceSettings(environment="production")


def test_production_refuses_short_secret() -> None:
    with pytest.raises(ValidationError, match="at least 32"):
        ServiceSettings(environment="production", jwt_secret="short")


def test_production_accepts_a_real_secret() -> None:
    settings = ServiceSettings(environment="production", jwt_secret=SECRET)
    assert settings.jwt_secret.get_secret_value() == SECRET


def test_development_defaults_to_development_secret() -> None:
    assert ServiceSettings().jwt_secret.get_secret_value() == DEVELOPMENT_SECRET


def test_sqlite_path() -> None:
    settings = ServiceSettings(database_url="sqlite+aiosqlite:///var/x.db")
    assert settings.is_sqlite
    assert str(settings.sqlite_path()) == "var/x.db"
    assert ServiceSettings(database_url="postgresql+asyncpg://h/db").sqlite_path() is None


def test_token_round_trip() -> None:
    token = issue_token(SECRET, "alice", ["underwriter"])
    principal = decode_token(token, SECRET)
    assert principal == Principal("alice", frozenset({"underwriter"}))
    assert principal.has_any(["underwriter", "finance"])
    assert not principal.has_any(["finance"])


def test_admin_has_every_role() -> None:
    assert Principal("root", frozenset({"admin"})).has_any(["finance"])


def test_unknown_role_refused() -> None:
    with pytest.raises(ValueError, match="unknown roles"):
        issue_token(SECRET, "alice", ["wizard"])


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (issue_token(SECRET, "a", ["admin"], now=time.time() - 7200, ttl_s=60), "token_expired"),
        (issue_token("x" * 40, "a", ["admin"]), "token_invalid"),
        ("not-a-jwt", "token_invalid"),
        (jwt.encode({"sub": "a", "roles": ["admin"]}, SECRET, algorithm="HS256"), "token_invalid"),
        (
            jwt.encode(
                {
                    "sub": "a",
                    "roles": ["admin"],
                    "iat": int(time.time()),
                    "exp": int(time.time()) + 60,
                    "iss": "lending-platform",
                },
                SECRET * 2,
                algorithm="HS512",
            ),
            "token_invalid",
        ),
    ],
    ids=["expired", "wrong-secret", "garbage", "no-exp", "wrong-alg"],
)
def test_bad_tokens_are_401(token: str, code: str) -> None:
    with pytest.raises(ProblemError) as info:
        decode_token(token, SECRET)
    assert info.value.status == 401
    assert info.value.code == code


def test_roles_are_the_documented_set() -> None:
    assert set(ROLES) == {
        "applicant_agent",
        "underwriter",
        "credit_manager",
        "servicing_agent",
        "collections_agent",
        "finance",
        "auditor",
        "admin",
    }

"""Settings refuse the development secret in production; tokens are verified strictly."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from pydantic import ValidationError

from servicekit import auth
from servicekit.auth import ROLES, Principal, decode_token, issue_token, verify_token
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


def test_verify_token_checks_a_token_once_and_still_refuses_it_after_expiry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    real_decode = jwt.decode

    def counting_decode(token: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(token)
        return real_decode(token, *args, **kwargs)

    monkeypatch.setattr(auth.jwt, "decode", counting_decode)
    issued = time.time()
    token = issue_token(SECRET, "cache-user", ["finance"], now=issued, ttl_s=600)
    first = verify_token(token, SECRET)
    second = verify_token(token, SECRET)
    assert first == second == Principal(sub="cache-user", roles=frozenset({"finance"}))
    assert calls == [token]
    # The signature is not checked again, but the expiry is: at the token's exp it is refused.
    monkeypatch.setattr(auth, "_now", lambda: float(int(issued) + 600))
    with pytest.raises(ProblemError) as info:
        verify_token(token, SECRET)
    assert (info.value.status, info.value.code) == (401, "token_expired")
    assert calls == [token]


def test_a_remembered_token_is_not_taken_under_another_secret_or_issuer() -> None:
    token = issue_token(SECRET, "cache-user-2", ["admin"])
    assert verify_token(token, SECRET).sub == "cache-user-2"
    for kwargs in ({"secret": "y" * 40}, {"secret": SECRET, "issuer": "another-issuer"}):
        with pytest.raises(ProblemError) as info:
            verify_token(token, **kwargs)
        assert (info.value.status, info.value.code) == (401, "token_invalid")


@pytest.mark.parametrize("token", ["not-a-jwt", issue_token("x" * 40, "a", ["admin"])])
def test_a_refused_token_is_refused_every_time(token: str) -> None:
    for _ in range(2):
        with pytest.raises(ProblemError) as info:
            verify_token(token, SECRET)
        assert info.value.code == "token_invalid"

"""Bearer JWT auth with roles: who is calling and what they may do."""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request

from servicekit.errors import ProblemError

ROLES = (
    "applicant_agent",
    "underwriter",
    "credit_manager",
    "servicing_agent",
    "collections_agent",
    "finance",
    "auditor",
    "admin",
)
ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller."""

    sub: str
    roles: frozenset[str]

    def has_any(self, roles: Iterable[str]) -> bool:
        """Whether the caller holds one of the roles (admin holds them all)."""
        return ADMIN in self.roles or bool(self.roles.intersection(roles))


def issue_token(
    secret: str,
    sub: str,
    roles: Iterable[str],
    *,
    ttl_s: int = 3600,
    issuer: str = "lending-platform",
    now: float | None = None,
) -> str:
    """Sign a token for local use and tests."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")
    issued = int(now if now is not None else time.time())
    claims = {
        "sub": sub,
        "roles": sorted(set(roles)),
        "iat": issued,
        "exp": issued + ttl_s,
        "iss": issuer,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def _unauthorized(code: str, detail: str) -> ProblemError:
    return ProblemError(401, code, detail, headers={"WWW-Authenticate": "Bearer"})


def decode_token(token: str, secret: str, *, issuer: str = "lending-platform") -> Principal:
    """Verify signature, expiry and claims; raise a 401 problem otherwise."""
    return _decode(token, secret, issuer)[0]


def _decode(token: str, secret: str, issuer: str) -> tuple[Principal, float]:
    """The caller a token names and the token's expiry (seconds since the epoch)."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            issuer=issuer,
            options={"require": ["sub", "exp", "iat"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise _expired() from exc
    except jwt.InvalidSignatureError as exc:
        raise _unauthorized("token_invalid", "The bearer token signature is not valid.") from exc
    except jwt.PyJWTError as exc:
        raise _unauthorized("token_invalid", "The bearer token is not valid.") from exc
    roles = claims.get("roles", [])
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or not isinstance(roles, list):
        raise _unauthorized("token_invalid", "The bearer token claims are not valid.")
    return Principal(sub=sub, roles=frozenset(str(r) for r in roles)), float(claims["exp"])


def _expired() -> ProblemError:
    return _unauthorized("token_expired", "The bearer token has expired.")


#: Tokens verified by this process, by (token, secret, issuer). A front end sends the same
#: token with every request until it expires, and checking its signature and claims is about
#: a fifth of a millisecond each time. Only tokens that passed are kept (an invalid one raises
#: and is not cached), under the secret and issuer they passed with; a kept token is still
#: refused once its expiry has passed. `nbf` and `iat` can only become more valid with time.
_verified_tokens = functools.lru_cache(maxsize=4096)(_decode)


def verify_token(token: str, secret: str, *, issuer: str = "lending-platform") -> Principal:
    """`decode_token`, remembering tokens that passed until they expire."""
    principal, expires = _verified_tokens(token, secret, issuer)
    if _now() >= expires:
        raise _expired()
    return principal


def _now() -> float:
    return time.time()


# Where a request keeps the token it verified and the caller it names (in its ASGI scope's
# `state`), so the idempotency middleware and the route's role check verify it once.
_VERIFIED = "servicekit.verified_token"


def verified_principal(scope: MutableMapping[str, Any], token: str, settings: Any) -> Principal:
    """The caller a bearer token names, verified once per request (raises a 401 problem)."""
    state = scope.setdefault("state", {})
    cached = state.get(_VERIFIED)
    if cached is not None and cached[0] == token:
        principal: Principal = cached[1]
        return principal
    principal = verify_token(
        token, settings.jwt_secret.get_secret_value(), issuer=settings.jwt_issuer
    )
    state[_VERIFIED] = (token, principal)
    return principal


def bearer_token(header: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header (raises a 401 problem)."""
    if not header:
        raise _unauthorized("token_missing", "An Authorization: Bearer token is required.")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("token_invalid", "The Authorization header must be 'Bearer <token>'.")
    return token.strip()


def authenticate(request: Request) -> Principal:
    """Read and verify the Authorization header against the app's secret."""
    token = bearer_token(request.headers.get("authorization"))
    return verified_principal(request.scope, token, request.app.state.settings)


def require_roles(*roles: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that admits callers holding any of `roles` (or admin)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")

    async def _dependency(request: Request) -> Principal:
        principal = authenticate(request)
        if not principal.has_any(roles):
            raise ProblemError(
                403,
                "forbidden_role",
                f"This action needs one of the roles: {', '.join(sorted(roles))}.",
            )
        request.state.principal = principal
        return principal

    _dependency.required_roles = frozenset(roles)  # type: ignore[attr-defined]
    return _dependency


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]

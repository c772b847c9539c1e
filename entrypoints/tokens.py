"""Bearer tokens: who is calling, and with which scopes.

``TokenVerifier`` is the port the HTTP layer asks; ``JwtVerifier`` answers it for signed JWTs (HS256 with a
shared secret, or RS256 with a public key or a JWKS file), checking the signature, ``exp``, ``aud`` and
``iss``. ``mint_token`` makes HS256 tokens for local development and tests (``users-service token``).
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import jwt

from entrypoints.settings import ConfigurationError, Settings

READ_SCOPE: Final = "users:read"
WRITE_SCOPE: Final = "users:write"
METRICS_SCOPE: Final = "metrics:read"
SCOPES: Final = (READ_SCOPE, WRITE_SCOPE, METRICS_SCOPE)

# Secrets shorter than this are guessable offline from any token signed with them (RFC 7518 asks for at
# least the hash size, 32 bytes for HS256).
MIN_SECRET_BYTES: Final = 32


@dataclass(frozen=True)
class Principal:
    """The caller a valid token speaks for."""

    subject: str
    scopes: frozenset[str]
    expires_at: float


class InvalidToken(Exception):
    """The token cannot be trusted; ``reason`` is fit for the caller (no key material, no token text)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TokenVerifier(Protocol):
    def verify(self, token: str) -> Principal:
        """The principal of a valid token, else ``InvalidToken``."""
        ...


class InvalidKeys(Exception):
    """The configured key material cannot be used."""


def _scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    # OAuth's "scope" is one space-separated string (RFC 8693); some issuers send "scp" as a list instead.
    granted = claims.get("scope", claims.get("scp", ""))
    if isinstance(granted, str):
        return frozenset(granted.split())
    if isinstance(granted, list) and all(isinstance(item, str) for item in granted):
        return frozenset(granted)
    raise InvalidToken("the scope claim is malformed")


class JwtVerifier:
    """Verifies JWTs against fixed keys. Verified tokens are remembered until they expire (bounded), so a
    client that reuses its token, as clients do, pays for the signature check once."""

    _REQUIRED_CLAIMS: Final = ["exp", "sub", "aud", "iss"]

    def __init__(
        self,
        *,
        audience: str,
        issuer: str,
        secret: str | None = None,
        public_key_pem: str | None = None,
        jwks_json: str | None = None,
        leeway_seconds: float = 30,
        remembered: int = 4096,
    ) -> None:
        given = [value for value in (secret, public_key_pem, jwks_json) if value is not None]
        if len(given) != 1:
            raise InvalidKeys("exactly one of a secret, a public key or a JWKS is needed")
        self._audience = audience
        self._issuer = issuer
        self._leeway = leeway_seconds
        self._keys_by_id: dict[str, Any] = {}
        self._key: Any = None
        if secret is not None:
            if len(secret.encode()) < MIN_SECRET_BYTES:
                raise InvalidKeys(f"the secret must be at least {MIN_SECRET_BYTES} bytes long")
            self._key, self._algorithms = secret, ["HS256"]
        elif public_key_pem is not None:
            self._key, self._algorithms = _public_key(public_key_pem), ["RS256"]
        else:
            assert jwks_json is not None
            self._keys_by_id, self._algorithms = _jwks(jwks_json), ["RS256"]
        self._remembered: OrderedDict[str, Principal] = OrderedDict()
        self._capacity = remembered

    def verify(self, token: str) -> Principal:
        principal = self._remembered.get(token)
        if principal is not None and principal.expires_at + self._leeway > time.time():
            return principal
        principal = self._decode(token)
        self._remembered[token] = principal
        if len(self._remembered) > self._capacity:
            self._remembered.popitem(last=False)
        return principal

    def _decode(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._key_for(token),
                algorithms=self._algorithms,
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": self._REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError as error:
            raise InvalidToken(_reason(error)) from None
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise InvalidToken("the token's subject is malformed")
        try:
            expires_at = float(claims["exp"])
        except (OverflowError, TypeError, ValueError):  # e.g. 10**400: PyJWT compares it, a float cannot hold it
            raise InvalidToken("the token's expiry (exp) is malformed") from None
        return Principal(subject=subject, scopes=_scopes(claims), expires_at=expires_at)

    def _key_for(self, token: str) -> Any:
        if not self._keys_by_id:
            return self._key
        try:
            key_id = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise InvalidToken("the token is malformed") from None
        key = self._keys_by_id.get(key_id) if isinstance(key_id, str) else None
        if key is None:
            raise InvalidToken("the token names no key this service knows (kid)")
        return key


# Most specific first: several of PyJWT's errors derive from others (InvalidSignatureError is a DecodeError).
_REASONS: Final = (
    (jwt.ExpiredSignatureError, "the token has expired"),
    (jwt.ImmatureSignatureError, "the token is not yet valid (nbf or iat lies in the future)"),
    (jwt.InvalidAudienceError, "the token is not meant for this service (aud)"),
    (jwt.InvalidIssuerError, "the token comes from an unknown issuer (iss)"),
    (jwt.InvalidSignatureError, "the token's signature does not verify"),
    (jwt.InvalidAlgorithmError, "the token is not signed with an accepted algorithm"),
)


def _reason(error: jwt.PyJWTError) -> str:
    """Why a token was refused, in words for the caller (PyJWT's own messages may quote the token's parts)."""
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"the token has no {error.claim!r} claim"
    return next((reason for kind, reason in _REASONS if isinstance(error, kind)), "the token is malformed")


def _public_key(pem: str) -> Any:
    try:
        return jwt.algorithms.RSAAlgorithm(jwt.algorithms.RSAAlgorithm.SHA256).prepare_key(pem)
    except (jwt.InvalidKeyError, ValueError, TypeError):
        raise InvalidKeys("the public key is not an RSA public key in PEM form") from None


def _jwks(text: str) -> dict[str, Any]:
    try:
        key_set = jwt.PyJWKSet.from_json(text)
    except (jwt.PyJWKSetError, jwt.InvalidKeyError, json.JSONDecodeError, ValueError, TypeError):
        raise InvalidKeys("the JWKS file holds no usable key") from None
    keys = {key.key_id: key.key for key in key_set.keys if key.key_id and key.algorithm_name in ("RS256", None)}
    if not keys:
        raise InvalidKeys("the JWKS file holds no RS256 key with a key id (kid)")
    return keys


def mint_token(
    secret: str,
    *,
    subject: str,
    scopes: Iterable[str],
    audience: str,
    issuer: str,
    lifetime_seconds: int,
    now: float | None = None,
) -> str:
    """An HS256 token, as ``JwtVerifier`` with the same secret, audience and issuer accepts it."""
    issued = int(time.time() if now is None else now)
    claims = {
        "sub": subject,
        "scope": " ".join(sorted(set(scopes))),
        "aud": audience,
        "iss": issuer,
        "iat": issued,
        "exp": issued + lifetime_seconds,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def verifier_from_settings(settings: Settings) -> TokenVerifier | None:
    """The verifier the settings describe; ``None`` when AUTH_DISABLED. Without any key the service refuses
    to start rather than serve /users to anyone."""
    if settings.auth_disabled:
        return None
    sources = settings.auth_key_sources()
    if not sources:
        raise ConfigurationError(
            [
                "AUTH_JWT_SECRET: no token key is configured: set AUTH_JWT_SECRET, AUTH_JWT_SECRET_FILE, "
                "AUTH_JWT_PUBLIC_KEY_FILE or AUTH_JWKS_FILE (or AUTH_DISABLED=true for local experiments)"
            ]
        )
    try:
        return JwtVerifier(
            audience=settings.auth_jwt_audience,
            issuer=settings.auth_jwt_issuer,
            leeway_seconds=settings.auth_leeway_seconds,
            secret=sources.get("secret"),
            public_key_pem=sources.get("public_key_pem"),
            jwks_json=sources.get("jwks_json"),
        )
    except InvalidKeys as error:
        variable = next(name for name, value in _SOURCE_VARIABLES.items() if value(settings) is not None)
        raise ConfigurationError([f"{variable}: {error}"]) from None


_SOURCE_VARIABLES: Final[dict[str, Callable[[Settings], object]]] = {
    "AUTH_JWT_SECRET": lambda settings: settings.auth_jwt_secret,
    "AUTH_JWT_SECRET_FILE": lambda settings: settings.auth_jwt_secret_file,
    "AUTH_JWT_PUBLIC_KEY_FILE": lambda settings: settings.auth_jwt_public_key_file,
    "AUTH_JWKS_FILE": lambda settings: settings.auth_jwks_file,
}

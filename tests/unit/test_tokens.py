"""JwtVerifier: signature, exp, aud and iss checked for HS256 and RS256 (PEM or JWKS); scopes read from
either claim form; nothing but the configured algorithm accepted."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from entrypoints.http.rate_limits import WriteRateLimiter, retry_after
from entrypoints.tokens import InvalidKeys, InvalidToken, JwtVerifier, mint_token
from tests.auth import TEST_SECRET

AUD, ISS = "users-service", "users-service"


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": "alice", "scope": "users:read", "aud": AUD, "iss": ISS, "iat": now}
    claims["exp"] = now + 600
    return {name: value for name, value in (claims | changes).items() if value is not None}


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_a_minted_token_verifies_with_its_scopes_and_subject() -> None:
    verifier = JwtVerifier(audience=AUD, issuer=ISS, secret=TEST_SECRET)
    token = mint_token(
        TEST_SECRET, subject="bob", scopes=["users:write", "users:read"], audience=AUD, issuer=ISS, lifetime_seconds=60
    )
    principal = verifier.verify(token)
    assert principal.subject == "bob"
    assert principal.scopes == {"users:read", "users:write"}


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        (_claims(exp=int(time.time()) - 120), "expired"),
        (_claims(aud="billing"), "aud"),
        (_claims(iss="elsewhere"), "issuer"),
        (_claims(exp=None), "'exp'"),
        (_claims(sub=None), "'sub'"),
        (_claims(aud=None), "'aud'"),
        (_claims(scope=42), "scope"),
        (_claims(sub=""), "subject"),
        (_claims(exp=10**400), "expiry"),
        (_claims(nbf=int(time.time()) + 3600), "not yet valid"),
        (_claims(iat=int(time.time()) + 3600), "not yet valid"),
    ],
)
def test_bad_claims_are_refused_with_a_reason(claims: dict[str, Any], reason: str) -> None:
    verifier = JwtVerifier(audience=AUD, issuer=ISS, secret=TEST_SECRET)
    with pytest.raises(InvalidToken, match=reason):
        verifier.verify(jwt.encode(claims, TEST_SECRET, algorithm="HS256"))


def test_the_scp_list_form_is_read_too() -> None:
    verifier = JwtVerifier(audience=AUD, issuer=ISS, secret=TEST_SECRET)
    token = jwt.encode(_claims(scope=None, scp=["users:write"]), TEST_SECRET, algorithm="HS256")
    assert verifier.verify(token).scopes == {"users:write"}


def test_an_unsigned_token_or_another_algorithm_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    verifier = JwtVerifier(audience=AUD, issuer=ISS, secret=TEST_SECRET)
    unsigned = jwt.encode(_claims(), "", algorithm="none")
    with pytest.raises(InvalidToken, match="algorithm"):
        verifier.verify(unsigned)
    with pytest.raises(InvalidToken, match="algorithm"):
        verifier.verify(jwt.encode(_claims(), rsa_key, algorithm="RS256"))


def test_rs256_with_a_public_key(rsa_key: rsa.RSAPrivateKey) -> None:
    verifier = JwtVerifier(audience=AUD, issuer=ISS, public_key_pem=_public_pem(rsa_key))
    assert verifier.verify(jwt.encode(_claims(), rsa_key, algorithm="RS256")).subject == "alice"
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(InvalidToken, match="signature"):
        verifier.verify(jwt.encode(_claims(), other, algorithm="RS256"))
    # The classic confusion: an HS256 token keyed with the public key's text must not pass as RS256.
    forged = _hs256_by_hand(_claims(), _public_pem(rsa_key).encode())
    with pytest.raises(InvalidToken, match="algorithm"):
        verifier.verify(forged)


def _hs256_by_hand(claims: dict[str, Any], key: bytes) -> str:
    # PyJWT itself refuses to HMAC with a PEM key; an attacker's script would not.
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = json.dumps({"alg": "HS256", "typ": "JWT"}).encode()
    signing_input = f"{part(header)}.{part(json.dumps(claims).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{part(signature)}"


def test_rs256_with_a_jwks_picks_the_key_by_kid(rsa_key: rsa.RSAPrivateKey) -> None:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    jwks = json.dumps({"keys": [public | {"kid": "2026-11", "alg": "RS256", "use": "sig"}]})
    verifier = JwtVerifier(audience=AUD, issuer=ISS, jwks_json=jwks)
    signed = jwt.encode(_claims(), rsa_key, algorithm="RS256", headers={"kid": "2026-11"})
    assert verifier.verify(signed).subject == "alice"
    unknown = jwt.encode(_claims(), rsa_key, algorithm="RS256", headers={"kid": "old"})
    with pytest.raises(InvalidToken, match="kid"):
        verifier.verify(unknown)


@pytest.mark.parametrize(
    "keys",
    [
        {"secret": "too short"},
        {"public_key_pem": "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n"},
        {"jwks_json": "{}"},
        {"jwks_json": "not json"},
        {"secret": TEST_SECRET, "jwks_json": "{}"},
        {},
    ],
)
def test_unusable_keys_are_refused_up_front(keys: dict[str, str]) -> None:
    with pytest.raises(InvalidKeys):
        JwtVerifier(
            audience=AUD,
            issuer=ISS,
            secret=keys.get("secret"),
            public_key_pem=keys.get("public_key_pem"),
            jwks_json=keys.get("jwks_json"),
        )


def test_a_remembered_token_still_expires() -> None:
    verifier = JwtVerifier(audience=AUD, issuer=ISS, secret=TEST_SECRET, leeway_seconds=0)
    token = jwt.encode(_claims(exp=int(time.time()) + 1), TEST_SECRET, algorithm="HS256")
    assert verifier.verify(token).subject == "alice"
    time.sleep(1.1)
    with pytest.raises(InvalidToken, match="expired"):
        verifier.verify(token)


def test_the_write_limiter_refills_at_its_rate() -> None:
    now = [0.0]
    limiter = WriteRateLimiter(rate=2, burst=2, clock=lambda: now[0])
    assert [limiter.wait_before_next("a") for _ in range(3)] == [0, 0, 0.5]
    now[0] = 0.5
    assert limiter.wait_before_next("a") == 0
    assert limiter.wait_before_next("b") == 0  # each client its own bucket
    assert retry_after(0.5) == "1"
    assert retry_after(2.01) == "3"

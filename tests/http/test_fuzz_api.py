"""The whole API fuzzed from its own OpenAPI document (schemathesis), on memory and PostgreSQL.

Every operation gets requests that follow the document and requests that break it. Each answer must be no
5xx, what the document says it is (status code, content type, headers, body), a problem+json if it is an
error, and a 4xx for every request that breaks the document. Half of the requests to /users/{user_id} name
a user that exists, so that the routes get past "no such user".

``make test`` runs ``FUZZ_EXAMPLES`` (default 60) cases per backend; ``make fuzz`` runs thousands.

Not checked: that the service accepts whatever the document allows. The document cannot say all of the
domain's rules (email-validator's view of an address, no control characters in a name, cursors being the
service's own), so a 422 for such a request is right.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.backends import on_backends
from tests.http.problems import assert_problem

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))

pytestmark = on_backends("memory", "postgres")

_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
_fuzz_users = itertools.count()


@pytest.fixture
async def cases(app: FastAPI, auth_headers: dict[str, str]) -> st.SearchStrategy[Case[Any]]:
    """Requests for every operation of the app's published document: following it, and (for the operations
    that take any input) breaking it."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers=auth_headers)
    # Every case carries the caller's token (auth_headers) and fuzzes the rest: the bearer scheme's own
    # answers (401, 403) have tests of their own, and a case that broke the token while _send put it back
    # would be a negative case answered as a valid one.
    schema.config.generation.update(with_security_parameters=False)
    strategies = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # the app publishes a document that schemathesis cannot read
        operation = result.ok()
        strategies.append(operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
        if operation.body or any(True for _ in operation.iter_parameters()):
            strategies.append(operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    return st.one_of(strategies)


@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,  # a shared 2-CPU machine: latency says nothing here
    # The app and its storage outlive each example on purpose: users created by one meet the next.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_every_answer_is_as_the_api_document_says(
    client: httpx.AsyncClient, auth_headers: dict[str, str], cases: st.SearchStrategy[Case[Any]], data: st.DataObject
) -> None:
    case = data.draw(cases, label="case")
    if _names_a_user(case) and data.draw(st.booleans(), label="on an existing user"):
        case.path_parameters["user_id"] = await _a_user(client, auth_headers)

    response, sent = await _send(client, case, auth_headers)

    case.validate_response(response, checks=_CHECKS, headers=auth_headers, transport_kwargs=sent)
    if response.status_code >= 400:
        assert_problem(response, response.status_code)


def _names_a_user(case: Case[Any]) -> bool:
    # A negative case may have broken the id on purpose; that one is left as it is.
    meta = case.meta
    return (
        case.path_parameters is not None
        and "user_id" in case.path_parameters
        and meta is not None
        and meta.generation.mode is GenerationMode.POSITIVE
    )


async def _a_user(client: httpx.AsyncClient, auth_headers: dict[str, str]) -> str:
    name = f"fuzz{next(_fuzz_users)}x{os.getpid()}"
    body = {"username": name, "email": f"{name}@example.com"}
    response = await client.post("/users", json=body, headers=auth_headers)
    assert response.status_code == 201, response.text
    user_id: str = response.json()["id"]
    return user_id


async def _send(
    client: httpx.AsyncClient, case: Case[Any], auth_headers: dict[str, str]
) -> tuple[httpx.Response, dict[str, Any]]:
    """Send the case through ``client``, byte for byte as schemathesis would send it.

    Not with ``case.call()``: schemathesis' ASGI client runs the app on an event loop of its own, in another
    thread, where the PostgreSQL backend's pooled connections (bound to the test's loop) cannot be used.
    ``requests`` prepares the request exactly as in schemathesis' own transport; httpx sends those bytes.
    """
    sent = case.as_transport_kwargs(base_url=str(client.base_url), headers=auth_headers)
    prepared = requests.Request(**sent).prepare()
    assert prepared.method is not None
    assert prepared.url is not None
    assert prepared.body is None or isinstance(prepared.body, bytes | str), "no file or stream is ever sent"
    # Header values go on the wire as Latin-1, as http.client (under requests) would write them.
    headers = [(name.encode("latin-1"), _octets(value)) for name, value in prepared.headers.items()]
    response = await client.request(prepared.method, prepared.url, headers=headers, content=prepared.body)
    return response, sent


def _octets(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("latin-1")

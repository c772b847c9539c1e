"""Assertions on RFC 9457 problem responses."""

from __future__ import annotations

from typing import Any

import httpx


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert isinstance(body["detail"], str)
    assert body["detail"]
    text = response.text.lower()
    for leak in ("traceback", "sqlalchemy", "asyncpg", "sqlite", "select ", "insert ", 'file "'):
        assert leak not in text
    return body


def field_errors(response: httpx.Response) -> set[str]:
    body = assert_problem(response, 422)
    return {error["field"] for error in body["errors"]}

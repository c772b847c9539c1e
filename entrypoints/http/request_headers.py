"""Request headers that the /users routes read themselves, described in the API as header parameters.

A route reads these from ``request.headers`` rather than declaring ``Header()`` parameters, which FastAPI would
solve on every request (docs/decisions/0005-request-path.md); a header with rules gets the same pydantic check,
and the same 422, that a declared parameter would give.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import StringConstraints, TypeAdapter, ValidationError


class RequestHeader:
    def __init__(
        self,
        name: str,
        *,
        description: str,
        rules: StringConstraints | None = None,
        examples: list[str] | None = None,
    ) -> None:
        self.name = name
        self._key = name.lower()
        self._rules: TypeAdapter[str] | None = None if rules is None else TypeAdapter(Annotated[str, rules])
        schema: dict[str, Any] = {"type": "string"} if self._rules is None else self._rules.json_schema()
        if examples:
            schema["examples"] = examples
        self.parameter: Mapping[str, Any] = {
            "name": name,
            "in": "header",
            "required": False,
            "description": description,
            "schema": schema,
        }
        """The OpenAPI parameter object (``openapi_extra`` of the routes that read it)."""

    def read(self, request: Request) -> str | None:
        """The header's value (``None`` when absent); a value that breaks the rules is a 422."""
        value = request.headers.get(self._key)
        if value is None or self._rules is None:
            return value
        try:
            return self._rules.validate_python(value)
        except ValidationError as error:
            raise RequestValidationError(
                [{**detail, "loc": ("header", self.name)} for detail in error.errors(include_url=False)]
            ) from None


def described(*headers: RequestHeader, **operation: Any) -> dict[str, Any]:
    """A route's ``openapi_extra``: these headers as parameters, plus any other part of the operation."""
    return {"parameters": [dict(header.parameter) for header in headers], **operation}

"""Query parameters that a route reads itself, described in the API exactly as declared ones would be.

The user list validates its query string as one pydantic model rather than declaring each parameter, which
FastAPI would solve one by one on every request (docs/decisions/0008-read-path.md). A value that breaks a
rule gets the same 422 a declared parameter gives; so do a parameter the route does not know (a misspelt
filter would otherwise widen the page without a word) and one given twice (of ``?limit=1&limit=100`` one
value would be taken silently). Every fault is listed in one answer.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Generic, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class QueryParameters(Generic[M]):
    def __init__(self, model: type[M]) -> None:
        self._model = model
        self._names = frozenset(model.model_fields)
        schema = model.model_json_schema()
        required = set(schema.get("required", ()))
        self.parameters: list[dict[str, Any]] = []
        """The OpenAPI parameter objects (``openapi_extra`` of the route that reads them)."""
        for name, field_schema in schema["properties"].items():
            if field_schema.get("default", 0) is None:
                del field_schema["default"]  # as FastAPI describes an optional parameter
            parameter = {"name": name, "in": "query", "required": name in required, "schema": field_schema}
            if "description" in field_schema:
                parameter["description"] = field_schema["description"]
            self.parameters.append(parameter)

    def read(self, request: Request) -> M:
        """The parameters of ``request``; a 422 naming every one at fault."""
        query = request.query_params
        faults = [_fault(name, "is not a parameter of this list") for name in sorted(query.keys() - self._names)]
        items = query.multi_items()
        if len(items) != len(query):
            counts = Counter(name for name, _ in items)
            repeated = sorted(name for name, count in counts.items() if count > 1 and name in self._names)
            faults += [_fault(name, "is given more than once") for name in repeated]
        try:
            parameters = self._model.model_validate({name: query[name] for name in query.keys() & self._names})
        except ValidationError as error:
            faults += [{**fault, "loc": ("query", *fault["loc"])} for fault in error.errors(include_url=False)]
            raise RequestValidationError(faults) from None
        if faults:
            raise RequestValidationError(faults)
        return parameters


def _fault(name: str, message: str) -> dict[str, Any]:
    return {"type": "value_error", "loc": ("query", name), "msg": message}

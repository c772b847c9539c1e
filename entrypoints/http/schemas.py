"""The JSON shapes of the API. Types only: the domain owns the rules (length, pattern, e-mail syntax), and
its ``InvalidUser`` becomes the same 422 problem as a type error here. The rules are still published in the
OpenAPI schema, from the domain's own constants."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema
from typing_extensions import TypedDict  # pydantic accepts typing.TypedDict only from Python 3.12

from application.readiness import DependencyStatus, Readiness
from application.users import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from domain.users import FULL_NAME_MAX_LENGTH, USERNAME_MAX_LENGTH, USERNAME_MIN_LENGTH, USERNAME_PATTERN, User

_USERNAME_SCHEMA: dict[str, Any] = {
    "pattern": USERNAME_PATTERN,
    "minLength": USERNAME_MIN_LENGTH,
    "maxLength": USERNAME_MAX_LENGTH,
    "examples": ["alice"],
}
_EMAIL_SCHEMA: dict[str, Any] = {"format": "email", "examples": ["alice@example.com"]}
_FULL_NAME_SCHEMA: dict[str, Any] = {"maxLength": FULL_NAME_MAX_LENGTH, "examples": ["Alice Liddell"]}


class _Request(BaseModel):
    # Unknown fields (id, version, typos) are refused rather than silently dropped; strict: "yes" is no bool.
    model_config = ConfigDict(extra="forbid", strict=True)


class UserCreate(_Request):
    username: str = Field(json_schema_extra=_USERNAME_SCHEMA)
    email: str = Field(json_schema_extra=_EMAIL_SCHEMA)
    full_name: str | None = Field(default=None, json_schema_extra=_FULL_NAME_SCHEMA)
    is_active: bool = True


class UserPatch(_Request):
    """A JSON merge-patch (RFC 7396): absent fields stay as they are; ``full_name: null`` clears the name."""

    # Optional but not nullable: the None default only marks "absent" (read through model_fields_set).
    username: str = Field(default=None, json_schema_extra=_USERNAME_SCHEMA)  # type: ignore[assignment]
    email: str = Field(default=None, json_schema_extra=_EMAIL_SCHEMA)  # type: ignore[assignment]
    full_name: str | None = Field(default=None, json_schema_extra=_FULL_NAME_SCHEMA)
    is_active: bool = Field(default=None)  # type: ignore[assignment]


class UserListQuery(BaseModel):
    """The query parameters of the user list (read by entrypoints/http/query_parameters.py)."""

    limit: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(default=None, description="next_cursor of the previous page")
    is_active: bool | None = None
    username: str | None = Field(default=None, description="exact match, case-insensitive")
    email: str | None = Field(default=None, description="exact match, case-insensitive")


class UserOut(TypedDict):
    # A TypedDict rather than a model: the routes serialize it as it is, without validating values they made.
    id: UUID
    username: str
    email: str
    full_name: str | None
    is_active: bool
    created_at: datetime
    updated_at: datetime
    version: int


def user_out(user: User) -> UserOut:
    return {
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "full_name": user.full_name,
        "is_active": user.is_active,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
        "version": user.version,
    }


class UserPageOut(TypedDict):
    items: list[UserOut]
    next_cursor: Annotated[
        str | None, Field(description="Pass as `cursor` to get the next page; null on the last page")
    ]


class Status(BaseModel):
    status: str


class DependencyCheck(BaseModel):
    status: Literal["up", "down"]
    latency_ms: float = Field(description="How long the check took, in milliseconds", examples=[1.2])
    error: str | None = Field(
        default=None, description="Why it is down (absent while up)", examples=["no answer within 2 s"]
    )

    @classmethod
    def of(cls, check: DependencyStatus) -> DependencyCheck:
        return cls(status=check.status, latency_ms=check.latency_ms, error=check.error)

    @classmethod
    def all_of(cls, readiness: Readiness) -> dict[str, DependencyCheck]:
        return {name: cls.of(check) for name, check in readiness.checks.items()}


class ReadinessOut(BaseModel):
    status: Literal["ready"]
    checks: dict[str, DependencyCheck] = Field(description="Each dependency, by name (`database`)")


class NotReadyProblem(BaseModel):
    """The 503 of /readyz: a problem document (RFC 9457) with the checks as an extension member."""

    type: str = Field(examples=["urn:users-service:problem:unavailable"])
    title: str = Field(examples=["Service Unavailable"])
    status: Literal[503]
    detail: str
    checks: dict[str, DependencyCheck]


class FieldProblem(BaseModel):
    field: str = Field(description="The body field, query parameter or path parameter at fault", examples=["username"])
    message: str = Field(examples=["must be 3-32 characters of ASCII letters, digits, '_', '.' or '-', ..."])


class Problem(BaseModel):
    """Every error: an RFC 9457 problem document, served as ``application/problem+json``."""

    type: str = Field(
        description="`urn:users-service:problem:<kind>` for the service's own kinds, else `about:blank`",
        examples=["urn:users-service:problem:user-not-found"],
    )
    title: str = Field(description="The HTTP status phrase", examples=["Not Found"])
    status: int = Field(ge=400, le=599, examples=[404])
    detail: str = Field(examples=["No user has this id."])


class ValidationProblem(Problem):
    """A 422: every field that breaks a rule, not only the first."""

    errors: list[FieldProblem]


def problem_components() -> dict[str, Any]:
    """The problem schemas, for the OpenAPI components: FastAPI only collects the models it serves as JSON, and
    these are served as problem+json."""
    _, schemas = models_json_schema(
        [(Problem, "serialization"), (ValidationProblem, "serialization")],
        ref_template="#/components/schemas/{model}",
    )
    definitions: dict[str, Any] = schemas["$defs"]
    return definitions

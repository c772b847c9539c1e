"""The /users routes: parse the request, call one use case, shape the answer. No rules live here."""

from __future__ import annotations

from typing import Annotated, Any, Final
from uuid import UUID

from fastapi import APIRouter, Body, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter

from application import users as use_cases
from domain.users import KEEP, User, UserChanges
from entrypoints.http.cursors import InvalidCursor, decode_cursor, encode_cursor
from entrypoints.http.dependencies import IdempotencyDep, UnitOfWorkDep, UserQueriesDep
from entrypoints.http.idempotency import IDEMPOTENCY_KEY, REPLAYED_RESPONSE_HEADER
from entrypoints.http.preconditions import etag, if_none_match_hits, versions_in_if_match
from entrypoints.http.problems import PROBLEM_JSON, documented_problem
from entrypoints.http.query_parameters import QueryParameters
from entrypoints.http.request_headers import RequestHeader, described
from entrypoints.http.schemas import UserCreate, UserListQuery, UserOut, UserPageOut, UserPatch, user_out

router = APIRouter(prefix="/users", tags=["users"])

IF_MATCH = RequestHeader("If-Match", description='Write only if the user is at this ETag (e.g. `"3"`)')
IF_NONE_MATCH = RequestHeader("If-None-Match", description="Answer 304 if the user is still at this ETag")

_ETAG = {"ETag": {"description": 'The version of the user, quoted: `"3"`', "schema": {"type": "string"}}}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before a retry", "schema": {"type": "integer"}}}

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    404: documented_problem("No such user"),
    408: documented_problem("The request body did not arrive within BODY_READ_TIMEOUT_SECONDS (default 30 s)"),
    409: documented_problem("Username or email taken, or a concurrent change"),
    412: documented_problem("If-Match names a version that is no longer current"),
    413: documented_problem("The request body is over the size limit (1 MiB)"),
    415: documented_problem("The body's Content-Type is not one the route accepts (see Accept-Post / Accept-Patch)"),
    422: documented_problem("Invalid request: every field at fault is in `errors`", schema="ValidationProblem"),
    503: documented_problem(
        "The database does not answer, or the service is shutting down (type `...:shutting-down`)",
        headers=_RETRY_AFTER,
    ),
}
# A reused key's 422 lists no field errors: the routes that take a key answer 422 in either form.
_KEYED_422 = {
    "description": "Invalid request (every field at fault in `errors`), or an Idempotency-Key already used for "
    "a different request (type `...:idempotency-key-reused`)",
    "content": {
        PROBLEM_JSON: {
            "schema": {
                "anyOf": [
                    {"$ref": "#/components/schemas/ValidationProblem"},
                    {"$ref": "#/components/schemas/Problem"},
                ]
            }
        }
    },
}


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: _PROBLEMS[code] for code in codes}


# The routes return their JSON as a Response: FastAPI then neither validates nor serializes it again.
_USER_JSON: Final = TypeAdapter(UserOut)
_PAGE_JSON: Final = TypeAdapter(UserPageOut)


def _user_json(user: User, status_code: int, headers: dict[str, str]) -> Response:
    return Response(
        _USER_JSON.dump_json(user_out(user)), status_code=status_code, headers=headers, media_type="application/json"
    )


def _created(user: User) -> Response:
    return _user_json(user, status.HTTP_201_CREATED, {"Location": f"/users/{user.id}", "ETag": etag(user.version)})


def _current(user: User) -> Response:
    return _user_json(user, status.HTTP_200_OK, {"ETag": etag(user.version)})


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    summary="Register a user",
    responses={
        201: {
            "description": "Registered",
            "headers": {
                "Location": {"description": "The new user's URL", "schema": {"type": "string"}},
                **_ETAG,
                **REPLAYED_RESPONSE_HEADER,
            },
        },
        **_problems(408, 409, 413, 415, 503),
        422: _KEYED_422,
    },
    openapi_extra=described(IDEMPOTENCY_KEY),
)
async def create_user(body: UserCreate, uow: UnitOfWorkDep, idempotency: IdempotencyDep) -> Response:
    user = await use_cases.register_user(
        uow,
        username=body.username,
        email=body.email,
        full_name=body.full_name,
        is_active=body.is_active,
        idempotency=idempotency.of(lambda: {"body": body.model_dump(mode="json", exclude_unset=True)}, _created),
    )
    return _created(user)


@router.get(
    "/{user_id}",
    response_model=UserOut,
    summary="Get a user",
    responses={
        200: {"headers": _ETAG},
        304: {"description": "Not modified since the ETag in If-None-Match", "headers": _ETAG},
        **_problems(404, 422, 503),
    },
    openapi_extra=described(IF_NONE_MATCH),
)
async def get_user(user_id: UUID, request: Request, queries: UserQueriesDep) -> Response:
    user = await use_cases.get_user(queries, user_id)
    if if_none_match_hits(IF_NONE_MATCH.read(request), user.version):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag(user.version)})
    return _current(user)


_LIST_QUERY = QueryParameters(UserListQuery)


@router.get(
    "",
    response_model=UserPageOut,
    summary="List users, oldest first",
    responses=_problems(422, 503),
    openapi_extra={"parameters": _LIST_QUERY.parameters},
)
async def list_users(request: Request, queries: UserQueriesDep) -> Response:
    query = _LIST_QUERY.read(request)
    try:
        after = None if query.cursor is None else decode_cursor(query.cursor)
    except InvalidCursor:
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("query", "cursor"), "msg": "is not a cursor this service issued"}]
        ) from None
    page = await use_cases.list_users(
        queries,
        limit=query.limit,
        after=after,
        where=use_cases.UserFilter(is_active=query.is_active, username=query.username, email=query.email),
    )
    body: UserPageOut = {
        "items": [user_out(user) for user in page.items],
        "next_cursor": None if page.next_after is None else encode_cursor(page.next_after),
    }
    return Response(_PAGE_JSON.dump_json(body), media_type="application/json")


@router.patch(
    "/{user_id}",
    response_model=UserOut,
    summary="Change a user (JSON merge-patch)",
    responses={
        200: {"description": "Changed", "headers": {**_ETAG, **REPLAYED_RESPONSE_HEADER}},
        **_problems(404, 408, 409, 412, 413, 415, 503),
        422: _KEYED_422,
    },
    openapi_extra=described(
        IF_MATCH,
        IDEMPOTENCY_KEY,
        requestBody={
            "content": {
                "application/merge-patch+json": {"schema": {"$ref": "#/components/schemas/UserPatch"}},
                "application/json": {"schema": {"$ref": "#/components/schemas/UserPatch"}},
            }
        },
    ),
)
async def patch_user(
    user_id: UUID,
    patch: Annotated[UserPatch, Body()],
    request: Request,
    uow: UnitOfWorkDep,
    idempotency: IdempotencyDep,
) -> Response:
    if_match = IF_MATCH.read(request)
    given = patch.model_fields_set
    changes = UserChanges(
        username=patch.username if "username" in given else KEEP,
        email=patch.email if "email" in given else KEEP,
        full_name=patch.full_name if "full_name" in given else KEEP,
        is_active=patch.is_active if "is_active" in given else KEEP,
    )
    user = await use_cases.update_user(
        uow,
        user_id,
        changes,
        if_version_in=versions_in_if_match(if_match),
        idempotency=idempotency.of(
            lambda: {"body": patch.model_dump(mode="json", exclude_unset=True), "if_match": if_match}, _current
        ),
    )
    return _current(user)


@router.delete(
    "/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Delete a user",
    responses=_problems(404, 409, 412, 422, 503),
    openapi_extra=described(IF_MATCH),
)
async def delete_user(user_id: UUID, request: Request, uow: UnitOfWorkDep) -> None:
    if_version_in = versions_in_if_match(IF_MATCH.read(request))
    await use_cases.delete_user(uow, user_id, if_version_in=if_version_in)

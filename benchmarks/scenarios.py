"""What each scenario asks of each app: one request plan per (scenario, app), which the load generators
(wrk's Lua script, or the Python generator) turn into requests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from uuid import UUID

from benchmarks.seed import BENCH_AUTHORIZATION
from benchmarks.servers import Paging
from entrypoints.http.cursors import encode_cursor

ScenarioKey = Literal["get_by_id", "create", "list_first", "list_deep", "patch"]
RequestKind = Literal["static", "random_id", "create", "patch"]
PAGE_SIZE = 50
JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"


@dataclass(frozen=True)
class Scenario:
    key: ScenarioKey
    title: str
    detail: str


@dataclass(frozen=True)
class Workload:
    """What the seeding left for the scenarios: ids to pick from, and where the deep page starts."""

    ids: list[str]
    ids_file: Path
    deep_position: int
    deep_id: UUID


def scenarios(deep_position: int) -> tuple[Scenario, ...]:
    return (
        Scenario("get_by_id", "GET /users/{id}", "random existing ids"),
        Scenario("create", "POST /users", "unique usernames"),
        Scenario("list_first", f"GET /users?limit={PAGE_SIZE}", "first page"),
        Scenario("list_deep", f"GET /users?limit={PAGE_SIZE} deep", f"the page after user {deep_position:,}"),
        Scenario("patch", "PATCH /users/{id}", "full_name, a new value each time"),
    )


@dataclass(frozen=True)
class RequestPlan:
    kind: RequestKind
    method: Literal["GET", "POST", "PATCH"]
    path: str
    """The whole path of a static request, else its prefix (``/users/`` + an id, or ``/users``)."""
    content_type: str | None = None
    ids: tuple[str, ...] = ()
    ids_file: Path | None = None
    tag: str = ""
    """Unique to one run of the load generator: usernames (POST) and names (PATCH) start with it."""
    authorization: str = ""
    """The Authorization header every request carries (the service checks it; the reference apps do not)."""


def deep_page_path(paging: Paging, position: int, after: UUID, limit: int = PAGE_SIZE) -> str:
    """The list page that starts after the ``position``-th user (whose id is ``after``), each app its own way."""
    if paging == "cursor":
        return f"/users?limit={limit}&cursor={encode_cursor(after)}"
    if paging == "offset":
        return f"/users?offset={position}&limit={limit}"
    return f"/users?limit={limit}&after={after}"


def plan(key: ScenarioKey, paging: Paging, workload: Workload, tag: str) -> RequestPlan:
    ids = tuple(workload.ids)
    auth = BENCH_AUTHORIZATION
    if key == "get_by_id":
        return RequestPlan("random_id", "GET", "/users/", ids=ids, ids_file=workload.ids_file, authorization=auth)
    if key == "create":
        return RequestPlan("create", "POST", "/users", content_type=JSON, tag=tag, authorization=auth)
    if key == "list_first":
        return RequestPlan("static", "GET", f"/users?limit={PAGE_SIZE}", authorization=auth)
    if key == "list_deep":
        path = deep_page_path(paging, workload.deep_position, workload.deep_id)
        return RequestPlan("static", "GET", path, authorization=auth)
    return RequestPlan(
        "patch",
        "PATCH",
        "/users/",
        content_type=MERGE_PATCH,
        ids=ids,
        ids_file=workload.ids_file,
        tag=tag,
        authorization=auth,
    )


def create_body(tag: str, number: int) -> str:
    name = f"{tag}n{number}"
    return f'{{"username":"{name}","email":"{name}@example.com","full_name":"Bench User"}}'


def patch_body(tag: str, number: int) -> str:
    return f'{{"full_name":"Renamed {tag} {number}"}}'

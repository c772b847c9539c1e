"""The interactive API docs come from the service's own files, under a content policy that allows nothing else.
(tests/smoke/test_docs_in_browser.py opens them in a real browser.)"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from dependency_injector import providers

from entrypoints.container import Container
from entrypoints.http.app import create_app
from entrypoints.http.docs import ASSETS_URL, REDOC_URL, SWAGGER_UI, SWAGGER_UI_URL
from tests.auth import app_settings
from tests.http.conftest import CapturedLogs
from tests.http.problems import assert_problem

pytestmark = pytest.mark.memory

_PAGES = (SWAGGER_UI_URL, REDOC_URL)
_STYLESHEET = f"{ASSETS_URL}/{SWAGGER_UI}/swagger-ui.css"
_CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
_SRC_OR_HREF = re.compile(r"""\b(?:src|href)="([^"]*)\"""")
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


@pytest.fixture
async def anonymous() -> AsyncIterator[httpx.AsyncClient]:
    container = Container()
    container.settings.override(providers.Object(app_settings(database_url="memory://")))
    transport = httpx.ASGITransport(app=create_app(container))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def _policy(response: httpx.Response) -> dict[str, list[str]]:
    directives = (part.split() for part in response.headers["content-security-policy"].split(";"))
    return {name: sources for name, *sources in directives}


@pytest.mark.parametrize("page", _PAGES)
async def test_a_docs_page_loads_only_files_of_the_service(anonymous: httpx.AsyncClient, page: str) -> None:
    response = await anonymous.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    urls = _SRC_OR_HREF.findall(response.text)
    assert urls
    for url in urls:
        # Same origin: a path of this service, never another host (https://..., or //host/...).
        assert url.startswith(f"{ASSETS_URL}/"), url
        asset = await anonymous.get(url)
        assert asset.status_code == 200, url
        suffix = url[url.rindex(".") :]
        assert asset.headers["content-type"].split(";")[0] == _CONTENT_TYPES[suffix], url
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"


@pytest.mark.parametrize("page", _PAGES)
async def test_a_docs_page_may_load_and_run_only_what_the_service_serves(
    anonymous: httpx.AsyncClient, page: str
) -> None:
    response = await anonymous.get(page)
    policy = _policy(response)
    assert policy["default-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    # Whatever a directive allows to be fetched, it is this service or the page's own memory.
    for directive, sources in policy.items():
        for source in sources:
            assert source in {"'self'", "'none'", "'unsafe-inline'", "data:", "blob:"} or source.startswith(
                "'sha256-"
            ), (directive, source)
    # Scripts run only from the service's files, plus the page's inline script named by its hash.
    inline = [
        base64.b64encode(hashlib.sha256(code.encode()).digest()).decode()
        for code in _INLINE_SCRIPT.findall(response.text)
    ]
    assert policy["script-src"] == ["'self'", *(f"'sha256-{digest}'" for digest in inline)]
    assert "'unsafe-inline'" not in policy["script-src"]


async def test_swagger_ui_runs_one_inline_script_and_no_inline_style(anonymous: httpx.AsyncClient) -> None:
    policy = _policy(await anonymous.get(SWAGGER_UI_URL))
    assert len(policy["script-src"]) == 2
    assert policy["style-src"] == ["'self'"]


async def test_the_api_keeps_its_own_policy(anonymous: httpx.AsyncClient) -> None:
    responses = [await anonymous.get(path) for path in ("/healthz", "/openapi.json", "/users", _STYLESHEET)]
    responses.append(await anonymous.post(SWAGGER_UI_URL))  # a problem on a docs page's path is API output too
    for response in responses:
        assert response.headers.get_list("content-security-policy") == ["default-src 'none'; frame-ancestors 'none'"]


async def test_the_docs_assets_answer_as_the_api_does(anonymous: httpx.AsyncClient) -> None:
    missing = await anonymous.get(f"{ASSETS_URL}/{SWAGGER_UI}/nothing.js")
    assert_problem(missing, 404)
    # The module beside the assets folder stays out of reach.
    outside = await anonymous.get(f"{ASSETS_URL}/..%2Fdocs.py")
    assert_problem(outside, 404)
    written = await anonymous.post(_STYLESHEET, content=b"x")
    assert_problem(written, 405)
    assert written.headers["allow"] == "GET, HEAD"
    head = await anonymous.head(_STYLESHEET)
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) > 100_000


async def test_no_oauth2_redirect_page_is_served(anonymous: httpx.AsyncClient) -> None:
    # The API's one scheme is a bearer token typed into Authorize: no OAuth2 flow comes back to a redirect page.
    assert_problem(await anonymous.get("/docs/oauth2-redirect"), 404)


async def test_the_docs_files_are_logged_under_one_route(anonymous: httpx.AsyncClient, logs: CapturedLogs) -> None:
    await anonymous.get(_STYLESHEET)
    await anonymous.get(f"{ASSETS_URL}/{SWAGGER_UI}/nothing.js")
    routes = [(line["route"], line["status"]) for line in logs.access()]
    assert routes == [(f"{ASSETS_URL}/{{path}}", 200), (f"{ASSETS_URL}/{{path}}", 404)]

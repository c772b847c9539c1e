"""The API docs in a real browser (headless Chromium) against the real server: each page renders every operation,
sends no request beyond the service, and Swagger UI's Authorize takes a bearer token that the API accepts."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.openapi.docs import get_swagger_ui_html

from entrypoints.tokens import READ_SCOPE
from tests.auth import token
from tests.browser import Browser, Page, running_browser
from tests.server_process import ServerProcess, running_server

pytestmark = [pytest.mark.smoke, pytest.mark.browser, pytest.mark.sqlite]

# ReDoc 2 shows Redocly's logo from Redocly's CDN in its menu, with no option to leave it out. The page's policy
# blocks it before it is sent; the menu then shows the words "API docs by Redocly" alone.
_REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
_LOGO_BLOCKED = "Loading the image 'https://cdn.redoc.ly/redoc/logo-mini.svg' violates"
# Where FastAPI's default docs page loads Swagger UI from: a CDN.
_FASTAPI_DEFAULT_SCRIPT: str = inspect.signature(get_swagger_ui_html).parameters["swagger_js_url"].default


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    database = tmp_path_factory.mktemp("docs") / "users.db"
    with running_server({"DATABASE_URL": f"sqlite+aiosqlite:///{database}"}) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with running_browser() as browser:
        yield browser


def _operations(server: ServerProcess) -> list[tuple[str, str, str]]:
    """(method, path, operation id) of every operation the API description lists."""
    spec = httpx.get(f"{server.base_url}/openapi.json", timeout=5).json()
    return [
        (method.upper(), path, operation["operationId"])
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    ]


def _assert_stayed_on(server: ServerProcess, page: Page, *, blocked: list[str]) -> None:
    """Every request the page sent went to the server (or stayed in the page: data:, blob:); ``blocked`` are
    the ones it tried elsewhere that its policy stopped before they were sent."""
    service = urlsplit(server.base_url).netloc
    sent = [request.url for request in page.requests if request.blocked is None]
    assert sent
    elsewhere = [
        url for url in sent if urlsplit(url).scheme not in {"data", "blob"} and urlsplit(url).netloc != service
    ]
    assert elsewhere == []
    assert [request.url for request in page.requests if request.blocked is not None] == blocked
    assert {request.blocked for request in page.requests if request.blocked is not None} <= {"csp"}


def test_swagger_ui_renders_every_operation_from_the_service_alone(server: ServerProcess, browser: Browser) -> None:
    page = browser.open(f"{server.base_url}/docs")
    page.wait_for("document.querySelectorAll('.opblock').length > 0")
    shown = page.evaluate(
        "[...document.querySelectorAll('.opblock')].map(block => [block.id,"
        " block.querySelector('.opblock-summary-method').innerText,"
        " block.querySelector('.opblock-summary-path').dataset.path])"
    )
    expected = _operations(server)
    assert len(shown) == len(expected)
    for method, path, operation_id in expected:
        assert any(block_id.endswith(f"-{operation_id}") and [method, path] == rest for block_id, *rest in shown), (
            method,
            path,
        )
    _assert_stayed_on(server, page, blocked=[])
    assert page.errors == []


def test_redoc_renders_every_operation_from_the_service_alone(server: ServerProcess, browser: Browser) -> None:
    page = browser.open(f"{server.base_url}/redoc")
    page.wait_for("document.querySelectorAll('[data-section-id^=\"operation/\"]').length > 0")
    sections = set(page.evaluate("[...document.querySelectorAll('[data-section-id]')].map(s => s.dataset.sectionId)"))
    text = page.evaluate("document.body.innerText")
    for method, path, operation_id in _operations(server):
        assert f"operation/{operation_id}" in sections, (method, path)
        assert path in text
    _assert_stayed_on(server, page, blocked=[_REDOCLY_LOGO])
    assert [error for error in page.errors if _LOGO_BLOCKED not in error] == []


def test_swagger_ui_authorize_takes_a_bearer_token(server: ServerProcess, browser: Browser) -> None:
    page = browser.open(f"{server.base_url}/docs")
    page.wait_for("document.querySelector('.auth-wrapper .authorize') !== null")
    page.evaluate("document.querySelector('.auth-wrapper .authorize').click()")
    page.wait_for("document.querySelector('.modal-ux input') !== null")
    dialog = page.evaluate("document.querySelector('.modal-ux').innerText")
    assert "(http, Bearer)" in dialog
    # Typed into the dialog as a person would, then used by "Try it out" on GET /users.
    page.evaluate("document.querySelector('.modal-ux input').focus()")
    page.type_text(token(READ_SCOPE))
    page.evaluate("document.querySelector('.modal-ux .auth-btn-wrapper .authorize').click()")
    page.wait_for("document.querySelector('.modal-ux').innerText.includes('Authorized')")
    page.evaluate("document.querySelector('.modal-ux .btn-done').click()")
    operation = "document.querySelector('.opblock-get[id$=\"-list_users_users_get\"]')"
    page.evaluate(f"{operation}.querySelector('.opblock-summary-control').click()")
    for button in (".try-out__btn", ".execute"):
        page.wait_for(f"{operation}.querySelector('{button}') !== null")
        page.evaluate(f"{operation}.querySelector('{button}').click()")
    page.wait_for(f"{operation}.querySelector('.live-responses-table tbody .response-col_status') !== null")
    status = page.evaluate(f"{operation}.querySelector('.live-responses-table tbody .response-col_status').innerText")
    assert status.strip() == "200"
    assert any(urlsplit(request.url).path == "/users" for request in page.requests)
    assert page.errors == []


def test_a_request_to_another_host_is_caught(server: ServerProcess, browser: Browser) -> None:
    """The check above can fail: a page that loads Swagger UI from a CDN, as FastAPI's default page does, fails
    it. (The browser resolves no host name but the service's, so nothing leaves the machine.)"""
    page = browser.open(f"data:text/html,<script src='{_FASTAPI_DEFAULT_SCRIPT}'></script>")
    page.wait_for("document.readyState === 'complete'")
    assert [request.url for request in page.requests] == [page.requests[0].url, _FASTAPI_DEFAULT_SCRIPT]
    with pytest.raises(AssertionError):
        _assert_stayed_on(server, page, blocked=[])

"""The interactive API docs, Swagger UI at /docs and ReDoc at /redoc, served from the service's own files.

FastAPI's default pages load their script and styles from a CDN, so in a closed network they stay blank.
These are FastAPI's documented self-hosted pages: its page generators, pointed at the files vendored in
docs_assets/ (its README.md names their versions and licences). Each page carries a Content-Security-Policy
that lets it load and run only what this service serves.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Awaitable, Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Final

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

from entrypoints.http.problems import problem

SWAGGER_UI_URL: Final = "/docs"
REDOC_URL: Final = "/redoc"
ASSETS_URL: Final = "/docs/assets"
# The vendored releases: a new one goes into a new folder, so a browser never keeps a stale copy.
SWAGGER_UI: Final = "swagger-ui-5.35.0"
REDOC: Final = "redoc-2.5.4"
ASSETS_DIRECTORY: Final = Path(__file__).with_name("docs_assets")
_READ_METHODS: Final = ("GET", "HEAD")

# The pages may load only what this service serves: scripts from its files (and the one inline script FastAPI's
# Swagger UI page carries, by hash), styles likewise, the API description by fetch. Swagger UI's icons are data:
# images in its stylesheet; ReDoc runs its search index in a blob: worker.
_POLICY: Final = (
    "default-src 'none'; script-src {scripts}; style-src {styles}; img-src 'self' data:; connect-src 'self'; "
    "worker-src blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# ReDoc's script writes <style> elements as it renders, which no hash can name. Styles cannot run code, and
# every directive that loads anything still allows this service only.
_RUNTIME_STYLES: Final = "'self' 'unsafe-inline'"


class _InlineCode(HTMLParser):
    """The text of a page's inline ``<script>`` and ``<style>`` elements: its policy allows each by hash."""

    def __init__(self) -> None:
        super().__init__()
        self.code: dict[str, list[str]] = {"script": [], "style": []}
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # A script with src runs the file, never its own text.
        inline = tag == "style" or (tag == "script" and all(name != "src" for name, _ in attrs))
        if inline:
            self._open = tag
            self.code[tag].append("")

    def handle_endtag(self, tag: str) -> None:
        self._open = None

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self.code[self._open][-1] += data


def _sources(code: list[str]) -> str:
    hashes = [base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() for text in code]
    return " ".join(["'self'", *(f"'sha256-{digest}'" for digest in hashes)])


class _Assets(StaticFiles):
    """The vendored files; each release lives under its own versioned path, so browsers may keep them."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        if scope["method"] not in _READ_METHODS:  # StaticFiles' own 405 names no allowed method
            return problem(405, "This path does not accept this method.", headers={"Allow": ", ".join(_READ_METHODS)})
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


def _page(html: bytes, *, runtime_styles: bool = False) -> Callable[[], Awaitable[HTMLResponse]]:
    """A route endpoint answering ``html`` with its policy (both made once, when the app is)."""
    headers = {"Content-Security-Policy": content_security_policy(html, runtime_styles=runtime_styles)}

    async def page() -> HTMLResponse:
        return HTMLResponse(html, headers=headers)

    return page


def content_security_policy(page: bytes, *, runtime_styles: bool = False) -> str:
    """The policy for ``page``: this service's own files, plus the page's inline code by its hash;
    ``runtime_styles`` when the page's script writes styles of its own."""
    inline = _InlineCode()
    inline.feed(page.decode())
    inline.close()
    styles = _RUNTIME_STYLES if runtime_styles else _sources(inline.code["style"])
    return _POLICY.format(scripts=_sources(inline.code["script"]), styles=styles)


def install_docs(app: FastAPI) -> None:
    """Serve Swagger UI and ReDoc for ``app``'s API description; ``app`` must be made with ``docs_url=None``
    and ``redoc_url=None`` so that FastAPI adds no CDN-loading pages of its own."""
    assert app.openapi_url is not None
    favicon = f"{ASSETS_URL}/{SWAGGER_UI}/favicon-32x32.png"
    swagger_ui = get_swagger_ui_html(
        openapi_url=app.openapi_url,
        title=f"{app.title} - Swagger UI",
        swagger_js_url=f"{ASSETS_URL}/{SWAGGER_UI}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_URL}/{SWAGGER_UI}/swagger-ui.css",
        swagger_favicon_url=favicon,
        # The API's only scheme is a bearer token typed into Authorize: no OAuth2 flow, so no redirect page.
        oauth2_redirect_url=None,
        # No badge that sends the API description to an outside validator.
        swagger_ui_parameters={"validatorUrl": None},
    ).body
    redoc = get_redoc_html(
        openapi_url=app.openapi_url,
        title=f"{app.title} - ReDoc",
        redoc_js_url=f"{ASSETS_URL}/{REDOC}/redoc.standalone.js",
        redoc_favicon_url=favicon,
        with_google_fonts=False,
    ).body
    app.add_api_route(SWAGGER_UI_URL, _page(bytes(swagger_ui)), methods=["GET"], include_in_schema=False)
    app.add_api_route(REDOC_URL, _page(bytes(redoc), runtime_styles=True), methods=["GET"], include_in_schema=False)
    app.mount(ASSETS_URL, _Assets(directory=ASSETS_DIRECTORY), name="docs-assets")

"""``python -m entrypoints.serve``: bring the schema up to date, then serve the API (what ``make run`` does)."""

from __future__ import annotations

import sys

import uvicorn
from pydantic import ValidationError

from adapters.sqlalchemy import migrations
from entrypoints.container import Container
from entrypoints.http.app import create_app
from entrypoints.settings import Settings


def main() -> None:
    try:
        settings = Settings()
    except ValidationError as error:
        for item in error.errors():
            variable = "_".join(str(part) for part in item["loc"]).upper()
            print(f"configuration error: {variable}: {item['msg']}", file=sys.stderr)
        raise SystemExit(2) from None
    if settings.storage == "sql":
        migrations.upgrade(settings.database_url)
    container = Container()
    container.settings.override(settings)
    print(f"serving on http://{settings.host}:{settings.port} (docs at /docs)", file=sys.stderr)
    uvicorn.run(create_app(container), host=settings.host, port=settings.port, server_header=False)


if __name__ == "__main__":
    main()

"""The README's example of swapping in the in-memory adapter runs as written."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.memory
async def test_the_readme_example_works() -> None:
    example = re.search(r"## Using the in-memory adapter.*?```python\n(.*?)```", README.read_text(), re.DOTALL)
    assert example is not None, "the README lost its example"
    namespace: dict[str, object] = {}
    exec(compile(example.group(1), str(README), "exec"), namespace)
    test: Callable[[], Awaitable[None]] = namespace["test_register_then_find"]  # type: ignore[assignment]
    await test()

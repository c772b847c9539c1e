"""The example in docs/testing.md of swapping in the in-memory adapter runs as written."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "testing.md"


@pytest.mark.memory
async def test_the_in_memory_example_works() -> None:
    example = re.search(r"## Using the in-memory adapter.*?```python\n(.*?)```", GUIDE.read_text(), re.DOTALL)
    assert example is not None, "docs/testing.md lost its example"
    namespace: dict[str, object] = {}
    exec(compile(example.group(1), str(GUIDE), "exec"), namespace)
    test: Callable[[], Awaitable[None]] = namespace["test_register_then_find"]  # type: ignore[assignment]
    await test()

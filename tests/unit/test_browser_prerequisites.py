"""Without Chromium the browser tests say so: a skip with the reason, or a failure under REQUIRE_BROWSER=1."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import chromium


@pytest.fixture
def no_chromium(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    return monkeypatch


def test_without_require_browser_a_missing_chromium_is_a_skip_with_the_reason(
    no_chromium: pytest.MonkeyPatch,
) -> None:
    no_chromium.delenv("REQUIRE_BROWSER", raising=False)

    with pytest.raises(pytest.skip.Exception, match="no Chromium here"):
        chromium()


def test_with_require_browser_a_missing_chromium_is_a_failure(no_chromium: pytest.MonkeyPatch) -> None:
    no_chromium.setenv("REQUIRE_BROWSER", "1")

    with pytest.raises(pytest.fail.Exception, match="REQUIRE_BROWSER=1 but no Chromium here"):
        chromium()

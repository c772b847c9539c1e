"""The garbage collector's view of a long-running command."""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Leave what start-up built (modules, classes, schemas, the app) out of the collector's later scans.

    Objects that outlive a few collections reach the oldest generation, and CPython then rescans all of it,
    start-up's few hundred thousand objects included (docs/decisions/0004-gc-freeze.md). They live as long as
    the process anyway; cyclic garbage made afterwards is still collected.
    """
    gc.collect()
    gc.freeze()

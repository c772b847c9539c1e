"""The line ``users-service migrate`` ends with: what it changed, in words."""

from __future__ import annotations

from adapters.sqlalchemy.migrations import Migration


def migration_summary(migration: Migration) -> str:
    """``database upgraded from revision base to 0002 (the newest)``, ``database already at revision 0002
    (the newest)``, ``database downgraded from revision 0002 to base (newest: 0002)``."""
    before, after = migration.before or "base", migration.after or "base"
    newest = "the newest" if migration.after == migration.head else f"newest: {migration.head or 'base'}"
    if migration.before == migration.after:
        return f"database already at revision {after} ({newest})"
    done = "upgraded" if migration.direction == "upgrade" else "downgraded"
    return f"database {done} from revision {before} to {after} ({newest})"

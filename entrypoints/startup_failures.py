"""What an operator reads when a command cannot start: the exit codes, and the one or two lines that say what
failed, where, why, and what to do about it."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from adapters.sqlalchemy.errors import Refusal, refusal_of

EXIT_FAILURE = 1  # the command ran and failed part-way (rows rejected, a malformed file, the database lost mid-way)
EXIT_CONFIGURATION = 2  # bad configuration (a variable, a token key), or HOST:PORT cannot be listened on
EXIT_DATABASE = 3  # the database cannot be reached, does not let the service in, or its schema is not current

EXIT_CODES_HELP = (
    "Exit status: 0 done; 1 failed part-way; 2 bad configuration (or HOST:PORT cannot be listened on); "
    "3 the database cannot be reached or its schema is not current. LOG_LEVEL=debug adds the traceback."
)

_POSTGRES_PORT = 5432


@dataclass(frozen=True)
class Failure:
    """A failure told in two lines: ``LABEL: what, where: cause`` and ``hint: what to do``."""

    what: str
    where: str
    cause: str
    hint: str

    def lines(self, label: str) -> list[str]:
        return [f"{label}: {self.what} {self.where}: {self.cause}", f"hint: {self.hint}"]


@dataclass(frozen=True)
class _Location:
    """The database a URL names, as an operator writes it: no driver suffix, no password."""

    url: str
    backend: str
    user: str | None
    host: str
    port: int
    database: str

    @classmethod
    def of(cls, database_url: str) -> _Location:
        url = make_url(database_url)
        backend = url.get_backend_name()
        if backend == "sqlite":
            path = os.path.abspath(url.database or "")
            return cls(f"SQLite file {path}", backend, None, "", 0, path)
        host = url.host or "localhost"
        port = url.port or _POSTGRES_PORT
        login = "" if url.username is None else url.username + (":***" if url.password else "") + "@"
        database = url.database or ""
        return cls(f"{backend}://{login}{host}:{port}/{database}", backend, url.username, host, port, database)

    def client_options(self) -> str:
        """``-h HOST -p PORT [-U USER]``, as createdb and pg_isready take them."""
        options = ["-h", self.host, "-p", str(self.port)] + ([] if self.user is None else ["-U", self.user])
        return shlex.join(options)


def database_failure(error: BaseException, database_url: str, *, connect_timeout: float) -> Failure | None:
    """The failure to show for ``error``, when it says the database at ``database_url`` cannot be used;
    ``None`` when it is something else (then it is a bug, and its traceback must stay visible)."""
    refusal = refusal_of(error)
    if refusal is None:
        return None
    where = _Location.of(database_url)
    if where.backend == "sqlite":
        return Failure("cannot open", where.url, _file_cause(Path(where.database), refusal.words), _file_hint(where))
    words = refusal.words
    pg_isready = f"`pg_isready {where.client_options()}`"
    cause, hint = {
        Refusal.MISSING_DATABASE: (
            words,
            f"create it with `createdb {where.client_options()} {shlex.quote(where.database)}`, "
            "then run `users-service migrate`",
        ),
        Refusal.LOGIN_REJECTED: (
            words,
            "check the user name in DATABASE_URL; the server must know the role (createuser) and let it in "
            "(pg_hba.conf)",
        ),
        Refusal.WRONG_PASSWORD: (
            words,
            "check the password in DATABASE_URL (percent-encode @ : / and % in it)",
        ),
        Refusal.UNKNOWN_HOST: (
            f"the host name {where.host} is not known ({words})",
            "check the host in DATABASE_URL",
        ),
        Refusal.NO_ANSWER: (
            f"no answer within {connect_timeout:g} s",
            f"check the host and port in DATABASE_URL and that no firewall drops the connection ({pg_isready}); "
            "DB_CONNECT_TIMEOUT sets how long to wait",
        ),
        Refusal.NOT_LISTENING: (
            words[:1].lower() + words[1:],
            f"check the port in DATABASE_URL and that PostgreSQL runs there: {pg_isready}",
        ),
        Refusal.UNAVAILABLE: (
            words,
            f"check that PostgreSQL runs and accepts connections ({pg_isready}), then try again",
        ),
        Refusal.FILE_INACCESSIBLE: (words, "check the path in DATABASE_URL"),
    }[refusal.kind]
    return Failure("cannot connect to", where.url, cause, hint)


def schema_failure(database_url: str, current: str | None, head: str | None) -> Failure:
    """The database answers, but its schema is not the one the code needs."""
    return Failure(
        "schema not current in",
        _Location.of(database_url).url,
        f"at revision {current or 'base'}, the code needs {head}",
        "run `users-service migrate`",
    )


def _file_cause(path: Path, words: str) -> str:
    """Why SQLite could not use ``path``, checked on the file system (SQLite's own words are terse)."""
    directory = path.parent
    if not directory.is_dir():
        return f"the directory {directory} does not exist"
    if not path.exists() and not os.access(directory, os.W_OK | os.X_OK):
        return f"the directory {directory} is not writable, so the file cannot be created"
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return "the file is not readable and writable by this user"
    return words


def _file_hint(where: _Location) -> str:
    directory = Path(where.database).parent
    if not directory.is_dir():
        return f"create it (`mkdir -p {shlex.quote(str(directory))}`) or point DATABASE_URL at another file"
    return "give this user write access there, or point DATABASE_URL at another file"

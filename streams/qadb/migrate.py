"""Versioned schema migrations: the numbered plain SQL files in migrations/ (NNNN_name.sql), applied in order, each
in its own transaction, recorded in schema_migrations with a digest. Applying them again is a no-op; an applied file
that changed is an error (write a new migration instead). Plain SQL rather than Alembic: the schema is what a DBA
reads and reviews, and it needs neither SQLAlchemy nor models that repeat the JSON Schemas."""
from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from streams.core.errors import CallqaError

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
LOCK_ID = 0x63616C6C7161  # "callqa": one migrating process at a time (sinks starting together wait here)


class MigrationError(CallqaError):
    """The migration files and the database's record of them disagree."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def migrations(folder: Path = MIGRATIONS) -> list[Migration]:
    """The files in version order; numbers must run 1, 2, 3 … so two branches cannot both add a number 2 unnoticed."""
    found = []
    for path in sorted(folder.glob("*.sql")):
        match = re.fullmatch(r"(\d{4})_(\w+)\.sql", path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        found.append(Migration(int(match.group(1)), match.group(2), path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise MigrationError(f"migration numbers must be 1..{len(found)} without gaps, found {versions}")
    return found


def migrate(conn, folder: Path = MIGRATIONS) -> list[int]:
    """Apply the migrations `conn`'s database lacks; returns the versions applied now. `conn` is in autocommit mode
    (each migration opens its own transaction)."""
    wanted = migrations(folder)
    conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_ID,))
    try:
        with conn.transaction():
            conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
                         " digest text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
        applied = dict(conn.execute("SELECT version, digest FROM schema_migrations").fetchall())
        unknown = sorted(set(applied) - {m.version for m in wanted})
        if unknown:
            raise MigrationError(f"the database has migrations {unknown} this code does not know: a newer version ran")
        done = []
        for migration in wanted:
            if migration.version in applied:
                if applied[migration.version] != migration.digest:
                    raise MigrationError(f"migration {migration.version:04d}_{migration.name} changed after it was "
                                         "applied: add a new migration instead")
                continue
            with conn.transaction():
                conn.execute(migration.sql)
                conn.execute("INSERT INTO schema_migrations (version, name, digest) VALUES (%s, %s, %s)",
                             (migration.version, migration.name, migration.digest))
            log.info("applied migration %04d_%s", migration.version, migration.name)
            done.append(migration.version)
        return done
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_ID,))

"""Migrations: applied in order once, recorded, a no-op the second time; a changed or unknown one is refused."""
import pytest

from streams.qadb.migrate import MigrationError, migrate, migrations
from streams.qadb.store import connect

TABLES = {"attributions", "alerts", "scorecards", "scorecard_rules", "pseudo_labels", "dead_letters", "human_labels",
          "call_vectors", "schema_migrations"}


def test_applied_once_then_a_no_op(database_url):
    with connect(database_url) as conn:
        assert migrate(conn) == [m.version for m in migrations()]
        assert migrate(conn) == []
        recorded = conn.execute("SELECT version, name, digest FROM schema_migrations ORDER BY version").fetchall()
        assert recorded == [(m.version, m.name, m.digest) for m in migrations()]
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert TABLES <= tables
        # pgvector is there: the extension and its cosine distance
        assert conn.execute("SELECT '[1,0]'::vector <=> '[0,1]'::vector").fetchone()[0] == pytest.approx(1.0)


def test_a_changed_migration_is_refused(database_url, tmp_path):
    with connect(database_url) as conn:
        (tmp_path / "0001_first.sql").write_text("CREATE TABLE first (id int);")
        assert migrate(conn, tmp_path) == [1]
        (tmp_path / "0002_second.sql").write_text("CREATE TABLE second (id int);")
        assert migrate(conn, tmp_path) == [2]
        (tmp_path / "0001_first.sql").write_text("CREATE TABLE first (id bigint);")
        with pytest.raises(MigrationError, match="changed after it was applied"):
            migrate(conn, tmp_path)
        (tmp_path / "0001_first.sql").write_text("CREATE TABLE first (id int);")
        (tmp_path / "0002_second.sql").unlink()
        with pytest.raises(MigrationError, match="does not know"):
            migrate(conn, tmp_path)


def test_a_failing_migration_leaves_nothing_behind(database_url, tmp_path):
    """Each migration is one transaction: half of one is never applied, and it is not recorded."""
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE first (id int);")
    (tmp_path / "0002_broken.sql").write_text("CREATE TABLE second (id int); SELECT no_such_function();")
    with connect(database_url) as conn:
        with pytest.raises(Exception, match="no_such_function"):
            migrate(conn, tmp_path)
        assert conn.execute("SELECT version FROM schema_migrations").fetchall() == [(1,)]
        assert conn.execute("SELECT to_regclass('second')").fetchone()[0] is None


def test_numbers_run_without_gaps(tmp_path):
    (tmp_path / "0001_a.sql").write_text("")
    (tmp_path / "0003_c.sql").write_text("")
    with pytest.raises(MigrationError, match="without gaps"):
        migrations(tmp_path)
    (tmp_path / "3_c.sql").write_text("")
    with pytest.raises(MigrationError, match="NNNN_name"):
        migrations(tmp_path)

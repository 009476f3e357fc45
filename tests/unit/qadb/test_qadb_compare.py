"""`callqa check`'s database half, the parts without a broker: the human-label table the topic implies, and the
key sets compared both ways; and the CLI's export on a real database."""
from conftest import attribution, example, item
from typer.testing import CliRunner

from streams.core.codec import encode
from streams.qadb import store
from streams.qadb.compare import expected_human_labels, key_gaps


def test_expected_human_labels_follow_the_topic():
    def label(call, who, t):
        return encode(example("human_label", call_id=call, annotator=who, event_time=t))

    records = [(0, 2, b"c-1", label("c-1", "qa-02", 2)), (0, 1, b"c-1", label("c-1", "qa-01", 1)),  # read out of order
               (1, 0, b"c-2", label("c-2", "qa-01", 1)), (1, 1, b"c-2", None),  # deleted
               (1, 2, b"c-3", label("c-4", "qa-01", 1)),  # keyed by another call: the worker dead-letters it
               (1, 3, b"c-5", b"{broken")]
    latest = expected_human_labels(records)
    assert {call: h.annotator for call, h in latest.items()} == {"c-1": "qa-02"}


def test_key_gaps_name_both_sides():
    assert key_gaps("alerts", {"a", "b"}, {"a", "b"}) == []
    missing, extra = key_gaps("alerts", {"a", "b", "c"}, {"a", "z"})
    assert missing.startswith("QA database: 2 of 3 alerts on the topics are not in the table") and "'b'" in missing
    assert extra.startswith("QA database: 1 alerts rows are not on the topics") and "'z'" in extra


def test_cli_export(conn, database_url, tmp_path, monkeypatch):
    from streams import cli

    with conn.transaction():
        store.write(conn, [item("attribution", attribution("call-a", produced_at=1764518400000))])  # 2025-12-01 00:00+08
    monkeypatch.setenv("CALLQA_DATABASE_URL", database_url)
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(cli.app, ["export-csv", "--since", "2025-12-01", "--until", "2025-12-02", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "1 attributions" in result.output
    assert out.read_bytes().startswith(b"\xef\xbb\xbfcall_id,")
    result = CliRunner().invoke(cli.app, ["export-csv", "--what", "calls", "--since", "2025-12-01", "--out", str(out)])
    assert result.exit_code != 0

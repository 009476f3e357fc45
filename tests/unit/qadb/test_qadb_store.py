"""Upserts: a redelivered record changes nothing, the first of a key stands; a human label is the latest of its call
on the topic, a tombstone deletes it; a scorecard's rule results are rows of their own."""
import pytest
from conftest import attribution, example, item

from streams.core.codec import encode
from streams.core.errors import DecodeError
from streams.qadb import store
from streams.qadb.sink import take
from streams.qadb.store import Item


def write(conn, items):
    with conn.transaction():
        return store.write(conn, items)


def rows(conn, sql):
    return conn.execute(sql).fetchall()


def test_a_duplicate_changes_nothing(conn):
    first = attribution("call-1", label_name="流量扣费异常", produced_at=1767225731067)
    again = {**first, "produced_at": 1767225799999, "label_name": "改了"}  # re-sent: same key, other time
    assert write(conn, [item("attribution", first, offset=5)])["attributions"] == 1
    before = rows(conn, "SELECT * FROM attributions")
    assert write(conn, [item("attribution", again, offset=9)])["attributions"] == 0
    assert rows(conn, "SELECT * FROM attributions") == before
    assert before[0][6] == "流量扣费异常"
    # twice within one batch: the first stands
    new = write(conn, [item("attribution", attribution("call-2"), offset=1),
                       item("attribution", {**attribution("call-2"), "score": 0.1}, offset=2)])
    assert new["attributions"] == 1
    assert rows(conn, "SELECT score, kafka_offset FROM attributions WHERE call_id = 'call-2'") == [(0.83, 1)]


def test_every_output_lands_in_its_table(conn):
    alert = example("alert")
    forbidden = {"idempotency_key": "call-9:forbidden_phrase:rule.rude:4", "alert_id": "call-9:rule.rude:4",
                 "kind": "forbidden_phrase", "call_id": "call-9", "user_id": "u-1", "rule_id": "rule.rude",
                 "rule_name": "禁语", "severity": "critical", "phrase": "你烦不烦", "seq": 4, "reason": "坐席说了禁语「你烦不烦」",
                 "produced_at": 1767225731068}
    items = [item("attribution", attribution("call-0700014")), item("alert", alert), item("alert", forbidden),
             item("scorecard", example("scorecard")), item("pseudo_label", example("pseudo_label")),
             item("dead_letter", example("dead_letter")), item("human_label", example("human_label")),
             item("call_vector", example("call_vector"))]
    new = write(conn, items)
    assert new == {"attributions": 1, "alerts": 2, "scorecards": 1, "pseudo_labels": 1, "dead_letters": 1,
                   "human_labels": 1, "call_vectors": 1}
    assert write(conn, items)["scorecards"] == 0
    counts = store.counts(conn)
    assert counts["scorecard_rules"] == len(example("scorecard")["rules"]) == 4
    assert rows(conn, "SELECT kind, phrase FROM alerts WHERE rule_id = 'rule.rude'") == [("forbidden_phrase", "你烦不烦")]
    # per-rule results are queryable as rows: who failed identity verification
    failed = rows(conn, "SELECT agent_id, rule_id FROM scorecard_rules WHERE outcome = 'fail'")
    assert failed == [("agent-07", "rule.verify_identity")]
    # dead letters keep where and why, not the bytes
    columns = {r[0] for r in rows(conn, "SELECT column_name FROM information_schema.columns "
                                        "WHERE table_name = 'dead_letters'")}
    assert {"source_topic", "source_partition", "source_offset", "reason", "value_bytes"} <= columns
    assert not {"value_b64", "key_b64"} & columns


def test_a_redelivered_scorecard_with_other_rules_keeps_the_first(conn):
    card = example("scorecard")
    write(conn, [item("scorecard", card)])
    write(conn, [item("scorecard", {**card, "rules": card["rules"] + [{**card["rules"][0], "rule_id": "rule.new"}]})])
    assert store.counts(conn)["scorecard_rules"] == 4


def test_human_label_latest_wins(conn):
    v1 = example("human_label", call_id="call-5", annotator="qa-01", event_time=1767226000000)
    v2 = example("human_label", call_id="call-5", annotator="qa-02", event_time=1767226100000)
    write(conn, [item("human_label", v1, offset=10)])
    write(conn, [item("human_label", v2, offset=11)])
    assert rows(conn, "SELECT annotator FROM human_labels") == [("qa-02",)]
    # redelivered after a restart: the older one changes nothing, the newer one again neither
    assert write(conn, [item("human_label", v1, offset=10)])["human_labels"] == 0
    assert write(conn, [item("human_label", v2, offset=11)])["human_labels"] == 0
    assert rows(conn, "SELECT annotator, kafka_offset FROM human_labels") == [("qa-02", 11)]
    # both in one batch: the later one
    write(conn, [item("human_label", {**v1, "call_id": "call-6"}, offset=20),
                 item("human_label", {**v2, "call_id": "call-6"}, offset=21)])
    assert rows(conn, "SELECT annotator FROM human_labels WHERE call_id = 'call-6'") == [("qa-02",)]


def test_human_label_tombstone_deletes(conn):
    write(conn, [item("human_label", example("human_label", call_id="call-7"), offset=3)])
    write(conn, [item("human_label", None, offset=4, key="call-7")])
    assert rows(conn, "SELECT call_id FROM human_labels") == []
    # an older tombstone does not delete a newer label
    write(conn, [item("human_label", example("human_label", call_id="call-8"), offset=9)])
    write(conn, [item("human_label", None, offset=4, key="call-8")])
    assert rows(conn, "SELECT call_id FROM human_labels") == [("call-8",)]


def test_take_refuses_what_the_worker_refuses():
    """Undecodable records are DecodeErrors (the sink counts and logs them); a human label must be keyed by its
    call, as the worker requires; a tombstone names the call it deletes."""
    with pytest.raises(DecodeError) as bad_json:
        take("attribution", 0, 1, b"call-1", b"{not json")
    assert bad_json.value.reason == "invalid_json"
    with pytest.raises(DecodeError):
        take("alert", 0, 1, b"call-1", b'{"kind": "complaint"}')
    with pytest.raises(DecodeError):
        take("human_label", 0, 1, b"call-0700014", b'{"call_id": "call-0700014"}')  # no event_time
    with pytest.raises(DecodeError, match="key_mismatch"):
        take("human_label", 0, 1, b"other", encode(example("human_label")))
    assert take("human_label", 0, 1, b"call-0700014", encode(example("human_label"))).record.annotator == "qa-03"
    assert take("human_label", 2, 7, b"call-1", None).key == "call-1"


def test_text_with_nul_is_stored(conn):
    """JSON allows \\u0000, PostgreSQL text does not: stored with a replacement character rather than refused."""
    letter = example("dead_letter", detail="bad byte \u0000 here")
    write(conn, [item("dead_letter", letter)])
    assert rows(conn, "SELECT detail FROM dead_letters") == [("bad byte \ufffd here",)]


def test_call_vectors_take_the_first_vectors_dimension(conn):
    def vector(call_id: str, values: list[float], model_version: str = "3") -> Item:
        return item("call_vector", example("call_vector", idempotency_key=f"{call_id}:product:{model_version}",
                                           call_id=call_id, task="product", vector=values, model_version=model_version))

    first = vector("call-1", [0.6, 0.8, 0.0])
    assert write(conn, [first, vector("call-2", [0.0, 1.0, 0.0])])["call_vectors"] == 2
    assert write(conn, [first, vector("call-1", [1.0, 0.0, 0.0])])["call_vectors"] == 0  # the first one stands
    assert write(conn, [vector("call-1", [1.0, 0.0, 0.0], model_version="4")])["call_vectors"] == 1
    dim = conn.execute("SELECT atttypmod FROM pg_attribute WHERE attrelid = 'call_vectors'::regclass "
                       "AND attname = 'vector'").fetchone()[0]
    assert dim == 3
    nearest = conn.execute("SELECT call_id FROM call_vectors WHERE model_version = '3' "
                           "ORDER BY vector <=> '[0,1,0]' LIMIT 1").fetchone()
    assert nearest == ("call-2",)
    index = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'call_vectors_hnsw'").fetchone()[0]
    assert "hnsw" in index and "vector_cosine_ops" in index
    # the call time is the call's start, the snippet what a search shows
    assert rows(conn, "SELECT call_time = to_timestamp(1767225540), snippet <> '' FROM call_vectors "
                      "WHERE call_id = 'call-1' AND model_version = '3'") == [(True, True)]

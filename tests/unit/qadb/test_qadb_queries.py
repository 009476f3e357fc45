"""Back-fill, search by meaning and agreement with the human checks, on a real PostgreSQL with pgvector: calls whose
stored vectors lie near a new label are found without the model, and only those the label would have won."""
from conftest import DAY_MS, NOW, NOW_MS, final_attribution, item, stored_call, unit

from streams.qadb import queries
from streams.qadb.store import write

def test_a_new_label_finds_the_past_calls_it_would_have_won(conn):
    stored_call(conn, "near", unit(1, 0.1, 0), "complaint.billing", score=0.5)
    stored_call(conn, "near-but-won", unit(1, 0.3, 0), "complaint.billing", score=0.99)  # its own label fits better
    stored_call(conn, "far", unit(0, 0, 1), "complaint.billing", score=0.5)
    stored_call(conn, "old", unit(1, 0, 0), "complaint.billing", score=0.5, days_ago=40)  # before the window
    stored_call(conn, "product", unit(1, 0, 0), "product.5g", score=0.5, task="product")  # another task
    stored_call(conn, "other-model", unit(1, 0, 0), "complaint.billing", score=0.5, model_version="2")

    result = queries.backfill(conn, "complaint.5g", "complaint", "5G套餐投诉", unit(1, 0, 0), "3", days=30, now=NOW)
    assert (result.calls_scored, result.calls_matched) == (3, 1)
    calls = queries.backfilled_calls(conn, "complaint.5g", "3")
    assert [c["call_id"] for c in calls] == ["near"]
    assert calls[0]["previous_label_id"] == "complaint.billing" and calls[0]["previous_score"] == 0.5
    assert calls[0]["score"] > 0.99 and calls[0]["snippet"] == "near 的转写"
    assert queries.done(conn, "complaint.5g", "3").label_text == "5G套餐投诉"

    # The label re-worded: scored again, the old matches replaced.
    again = queries.backfill(conn, "complaint.5g", "complaint", "无关", unit(0, 0, 1), "3", days=30, now=NOW)
    assert again.calls_matched == 1
    assert [c["call_id"] for c in queries.backfilled_calls(conn, "complaint.5g", "3")] == ["far"]
    assert queries.latest(conn, "complaint.5g").label_text == "无关"
    assert conn.execute("SELECT count(*) FROM label_backfills").fetchone()[0] == 1


def test_search_returns_the_nearest_calls_once_each(conn):
    stored_call(conn, "a", unit(1, 0, 0), "complaint.billing", score=0.5)
    stored_call(conn, "a", unit(0.9, 0.1, 0), "product.5g", score=0.5, task="product")
    stored_call(conn, "b", unit(0, 1, 0), "complaint.network", score=0.5)
    stored_call(conn, "c", unit(0, 0, 1), "complaint.network", score=0.5)
    found = queries.search(conn, unit(1, 0.05, 0), "3", limit=2)
    assert [r["call_id"] for r in found] == ["a", "b"]
    assert found[0]["task"] == "complaint" and found[0]["label_id"] == "complaint.billing"
    assert queries.search(conn, unit(1, 0, 0), "3", task="product")[0]["label_name"] == "product.5g"
    assert queries.newest_model_version(conn) == "3"


def test_agreement_per_window_and_against_the_last_model(conn):
    stored_call(conn, "c1", unit(1, 0, 0), "complaint.billing", 0.5, days_ago=0.5, human="complaint.billing", offset=1)
    stored_call(conn, "c2", unit(1, 0, 0), "complaint.billing", 0.5, days_ago=3, human="complaint.network", offset=2)
    stored_call(conn, "c3", unit(1, 0, 0), "complaint.network", 0.5, days_ago=20, human="complaint.network", offset=3)
    windows = {w["days"]: w for w in queries.agreement(conn, now=NOW)}
    assert windows[1]["tasks"] == [{"task": "complaint", "checked": 1, "agreed": 1, "agreement": 1.0}]
    assert windows[7]["tasks"][0]["agreement"] == 0.5
    assert windows[30]["tasks"][0]["checked"] == 3
    by_label = {l["label_id"]: l for l in windows[30]["labels"]}
    assert by_label["complaint.network"]["agreed"] == 1 and by_label["complaint.network"]["checked"] == 2

    # An older model version attributed c2 and c3 too, better: it is the baseline the newest is held against.
    for call_id, label, at in (("c2", "complaint.network", 3.2), ("c3", "complaint.network", 20.2)):
        write(conn, [item("attribution", final_attribution(call_id, "complaint", label, NOW_MS - round(at * DAY_MS),
                                                           "2"))])
    base = queries.baseline(conn, now=NOW)["complaint"]
    assert base["previous_model_version"] == "2" and base["previous_agreement"] == 1.0
    assert base["model_version"] == "3" and round(base["agreement"], 3) == 0.667


def test_an_empty_database_answers_with_nothing(conn):
    assert queries.search(conn, unit(1, 0), "3") == []
    assert queries.latest(conn, "complaint.x") is None and queries.newest_model_version(conn) is None
    assert all(w["tasks"] == [] for w in queries.agreement(conn, now=NOW))
    assert queries.baseline(conn, now=NOW) == {}
    result = queries.backfill(conn, "complaint.x", "complaint", "x", unit(1, 0), "3", days=30, now=NOW)
    assert (result.calls_scored, result.calls_matched) == (0, 0)

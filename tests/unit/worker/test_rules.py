"""The QA rules: literal multi-phrase matching, positions, conditions, timing figures, the score, and the rule book
following its table."""
import json

import orjson
import pytest

from streams.core.codec import decode, validator
from streams.core.errors import DecodeError
from streams.core.records import Rule
from streams.core.render import normalise_text
from streams.tools.sample.generate import RULES_PATH
from streams.core.rules import check_rule
from streams.worker.steps.rules import RuleBook, RuleBooks, score, talk_figures

T0 = 1767139200000


def rule(rule_id: str, kind: str, **fields) -> Rule:
    record = {"rule_id": rule_id, "name": rule_id, "kind": kind, "weight": 10, "severity": "minor", "active": True,
              "updated_at": T0, **fields}
    return decode(orjson.dumps(record), "rule", normalise=True)


def turn(seq: int, speaker: str, text: str, start_s: float, end_s: float) -> dict:
    """As the assembler keeps it: text normalised at the edge, like the rules' phrases (NFKC: ， becomes ,)."""
    return {"seq": seq, "speaker": speaker, "text": normalise_text(text), "start_ms": int(start_s * 1000), "end_ms": int(end_s * 1000)}


CALL = [turn(0, "agent", "您好，很高兴为您服务", 0, 2), turn(1, "customer", "我想查一下话费", 2.5, 4),
        turn(2, "agent", "请问您是机主本人吗？", 4.5, 6), turn(3, "customer", "是的", 6.2, 7),
        turn(4, "agent", "我看了一下，您现在是畅享套餐", 8, 10), turn(5, "customer", "好的谢谢", 10.5, 11.5),
        turn(6, "agent", "感谢您的来电，再见", 12, 13)]


def results(book: RuleBook, turns=CALL, labels=None) -> dict:
    found, _ = book.judge(turns, labels or {"product": "product.billing", "complaint": "complaint.none"})
    return {r.rule.rule_id: r for r in found}


def test_the_sample_rules_are_valid_and_judge_a_polite_call_as_passing():
    rules = [decode(orjson.dumps({**json.loads(line), "updated_at": T0}), "rule", normalise=True)
             for line in RULES_PATH.read_text(encoding="utf-8").splitlines()]
    for r in rules:
        check_rule(r)
    judged = results(RuleBook(rules))
    assert {k: r.outcome for k, r in judged.items()} == {
        "rule.forbidden_words": "pass", "rule.forbidden_promise": "pass", "rule.greeting": "pass",
        "rule.verify_identity": "pass", "rule.closing": "pass", "rule.apology": "n/a", "rule.silence": "pass",
        "rule.overlap": "pass", "rule.talk_ratio": "pass"}
    assert judged["rule.verify_identity"].seq == 2 and judged["rule.greeting"].seq == 0


def test_phrases_match_literally_and_ignore_case():
    book = RuleBook([rule("r.regex", "forbidden", phrases=["退.*款", "VIP"])])
    assert book.forbidden("我给您退了款", "agent") == []
    assert [p for _, p in book.forbidden("这里写的是退.*款", "agent")] == ["退.*款"]
    assert [p for _, p in book.forbidden("您是vip用户", "agent")] == ["VIP"]
    assert book.forbidden("您是vip用户", "customer") == []  # the rule is about the agent's speech


def test_five_thousand_phrases_in_one_automaton():
    phrases = [f"禁语{i:04d}号" for i in range(5000)]
    book = RuleBook([rule("r.many", "forbidden", phrases=phrases)])
    assert [p for _, p in book.forbidden("这句话里有禁语4321号和禁语0007号", "agent")] == ["禁语4321号"]  # once per rule
    assert {h.phrase for h in book.hits("禁语4321号和禁语0007号")} == {"禁语4321号", "禁语0007号"}


def test_required_positions():
    book = RuleBook([rule("first", "required", phrases=["您好"], position={"within": "first", "segments": 1}),
                     rule("last", "required", phrases=["再见"], position={"within": "last", "segments": 1}),
                     rule("late", "required", phrases=["本人"], position={"within": "first", "segments": 1})])
    judged = results(book)
    assert judged["first"].outcome == "pass" and judged["last"].outcome == "pass" and judged["last"].seq == 6
    assert judged["late"].outcome == "fail"  # said, but in the agent's second segment


def test_verification_must_come_before_the_account_is_read_out():
    verify = rule("verify", "required", phrases=["机主本人"], position={"within": "anywhere", "before_phrases": ["您现在是"]})
    book = RuleBook([verify])
    assert results(book)["verify"].outcome == "pass"
    late = [CALL[0], CALL[1], CALL[4], CALL[2], CALL[3]]  # the plan read out first
    failed = results(book, late)["verify"]
    assert failed.outcome == "fail" and failed.seq == 4
    assert results(book, [CALL[0], CALL[1]])["verify"].outcome == "n/a"  # nothing read out: nothing to verify


def test_a_rule_for_some_calls_only():
    apology = rule("apology", "required", phrases=["抱歉"], position={"within": "anywhere"},
                   applies_when={"task": "complaint", "label_ids": ["complaint.bill_dispute"]})
    book = RuleBook([apology])
    assert results(book)["apology"].outcome == "n/a"
    assert results(book, labels={"complaint": "complaint.bill_dispute"})["apology"].outcome == "fail"
    said = CALL + [turn(7, "agent", "非常抱歉", 14, 15)]
    assert results(book, said, {"complaint": "complaint.bill_dispute"})["apology"].outcome == "pass"
    conditional = RuleBook([rule("f", "forbidden", phrases=["没办法"], applies_when=apology.applies_when)])
    assert conditional.forbidden("我也没办法", "agent") == []  # judged at the end, once the attribution is known


def test_timing_figures_and_rules():
    turns = [turn(0, "agent", "您好", 0, 2), turn(1, "customer", "我说一下情况", 2.5, 8),
             turn(2, "agent", "您先听我说", 6, 9),  # starts 2 s before the customer stops
             turn(3, "customer", "好", 25, 26)]  # 16 s of silence before it
    talk = talk_figures(turns)
    assert (talk.longest_silence_ms, talk.silence_after_seq) == (16000, 2)
    assert (talk.longest_overlap_ms, talk.overlap_seq, talk.overlaps) == (2000, 2, 1)
    assert (talk.agent_ms, talk.customer_ms) == (5000, 6500) and talk.agent_ratio == round(5000 / 11500, 4)
    book = RuleBook([rule("silence", "max_silence", threshold=12000), rule("overlap", "max_overlap", threshold=1500),
                     rule("ratio", "max_talk_ratio", threshold=0.4)])
    judged = results(book, turns)
    assert {k: (r.outcome, r.seq) for k, r in judged.items()} == {
        "silence": ("fail", 2), "overlap": ("fail", 2), "ratio": ("fail", None)}


def test_score_weighs_what_applies_and_a_critical_failure_is_zero():
    book = RuleBook([rule("greet", "required", phrases=["您好"], position={"within": "first", "segments": 1}, weight=30),
                     rule("bye", "required", phrases=["拜拜"], position={"within": "last", "segments": 1}, weight=10),
                     rule("verify", "required", phrases=["x"], position={"within": "anywhere", "before_phrases": ["y"]})])
    judged, _ = book.judge(CALL, {})
    assert score(judged).score == 75.0 and not score(judged).critical_failed  # 30 of 40; verify does not apply
    rude = RuleBook([rule("rude", "forbidden", phrases=["再见"], severity="critical")])
    judged, _ = rude.judge(CALL, {})
    assert score(judged).score == 0.0 and score(judged).critical_failed
    assert score([]).score == 100.0


def test_bad_rules_are_dead_letters():
    with pytest.raises(DecodeError) as exc:
        check_rule(rule("r", "required", phrases=["您好"], position={"within": "first", "segments": 1},
                        applies_when={"task": "weather", "label_ids": ["x"]}))
    assert exc.value.reason == "unknown_task"
    with pytest.raises(DecodeError) as exc:
        check_rule(rule("r", "forbidden", phrases=["\u200b"]))  # nothing left once normalised
    assert exc.value.reason == "rule_invalid"
    with pytest.raises(DecodeError) as exc:
        check_rule(rule("r", "required", phrases=["您好"], position={"within": "first"}))
    assert exc.value.reason == "rule_invalid"
    for bad in ({"phrases": [""]}, {"phrases": ["长" * 10000]}, {}, {"kind": "max_talk_ratio", "threshold": 1.5}):
        with pytest.raises(DecodeError) as exc:
            rule("r", bad.pop("kind", "forbidden"), **bad)
        assert exc.value.reason == "schema"


def test_the_rule_book_follows_its_table():
    table, now = {}, [0.0]
    books = RuleBooks(table.values, refresh_s=1.0, clock=lambda: now[0])
    assert books.current().forbidden("你听不懂吗", "agent") == []
    table["r"] = rule("r", "forbidden", phrases=["听不懂"]).to_dict()
    assert books.current().forbidden("你听不懂吗", "agent") == []  # looked less than a second ago
    now[0] = 1.0
    assert [r.rule_id for r, _ in books.current().forbidden("你听不懂吗", "agent")] == ["r"]
    table["r"] = {**table["r"], "active": False}
    now[0] = 2.0
    assert books.current().forbidden("你听不懂吗", "agent") == []
    del table["r"]
    now[0] = 3.0
    assert books.current().rules == {}


def test_scorecard_record_matches_its_schema():
    from streams.core.records import Attribution, CallReady
    from streams.worker.steps.outputs import scorecard_record

    ready = CallReady(call_id="c1", user_id="u1", agent_id="agent-01", started_at=T0, final=True, turns=CALL,
                      segment_count=len(CALL), missing_seqs=[], has_human_label=False, trigger_ts=T0, ready_ts=T0)
    final = Attribution(idempotency_key="k", call_id="c1", user_id="u1", task="complaint", final=True,
                        label_id="complaint.none", label_name="无投诉", score=0.5, margin=0.1, top_k=[], candidates=1,
                        candidate_source="all", account_known=True, segment_count=7, model_version="1",
                        template_version="t", timings_ms={}, produced_at=T0)
    book = RuleBook([rule("greet", "required", phrases=["您好"], position={"within": "first", "segments": 1})])
    judged, talk = book.judge(CALL, {"complaint": "complaint.none"})
    card = scorecard_record(ready, judged, talk, [final], "1").to_dict()
    validator("scorecard")(card)
    assert card["score"] == 100.0 and card["agent_id"] == "agent-01" and card["rules"][0]["seq"] == 0


def test_a_final_attribution_keeps_its_vector_with_what_the_customer_said():
    from types import SimpleNamespace

    from streams.core.records import Attribution, CallReady
    from streams.core.render import DEFAULT_TEMPLATE
    from streams.worker.agents.attribute import Attributor
    from streams.worker.steps.outputs import call_vector_record

    turns = [{"seq": 0, "speaker": "agent", "text": "您好，请问有什么可以帮您"}, {"seq": 1, "speaker": "customer", "text": "喂"},
             {"seq": 2, "speaker": "customer", "text": "我的流量怎么多扣了，电话13912345678"}]
    ready = CallReady(call_id="c1", user_id="u1", started_at=T0, final=True, turns=turns, segment_count=3,
                      missing_seqs=[], has_human_label=False, trigger_ts=T0, ready_ts=T0)
    snippet = Attributor.snippet(SimpleNamespace(template=DEFAULT_TEMPLATE), ready)
    assert snippet.startswith("用户：我的流量怎么多扣了") and "13912345678" not in snippet  # redacted, greetings left out
    final = Attribution(idempotency_key="c1:product:final:3", call_id="c1", user_id="u1", task="product", final=True,
                        label_id="product.data", label_name="流量", score=0.5, margin=0.1, top_k=[], candidates=1,
                        candidate_source="all", account_known=True, segment_count=3, model_version="3",
                        template_version="ctx-v2", timings_ms={}, produced_at=T0 + 5)
    record = call_vector_record(final, [0.6, 0.8000001, 0.0], snippet, ready.started_at).to_dict()
    validator("call_vector")(record)
    assert record["idempotency_key"] == "c1:product:3" and record["vector"] == [0.6, 0.8, 0.0]
    assert record["started_at"] == T0 and record["model_version"] == "3"

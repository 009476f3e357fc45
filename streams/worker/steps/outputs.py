"""The records the worker publishes: attributions, alerts for QA staff, scorecards, call vectors, pseudo-labels for the
retrain, the worker's health, label counts for the dashboard."""
from __future__ import annotations

from streams.core.codec import now_ms
from streams.core.records import (Alert, Attribution, CallReady, CallVector, Health, LabelCount, PseudoLabel, Rule,
                                  Scorecard, Segment)
from streams.core.settings import Settings
from streams.worker.steps.candidates import Request
from streams.worker.steps.match import Match
from streams.worker.steps.rules import RuleResult, Talk, score


def attribution_record(request: Request, match: Match, model_version: str, template_version: str, queue_ms: int,
                       inference_ms: float) -> Attribution:
    ready, task = request.ready, request.task
    names = {l["label_id"]: l["name"] for l in request.candidates}
    stage = "final" if ready.final else f"provisional@{ready.segment_count}"
    produced_at = now_ms()
    return Attribution(
        idempotency_key=f"{ready.call_id}:{task}:{stage}:{model_version}",
        call_id=ready.call_id, user_id=ready.user_id, task=task, final=ready.final,
        label_id=match.label_id, label_name=names[match.label_id],
        score=round(match.score, 6), margin=round(match.margin, 6),
        top_k=[{"label_id": i, "name": names[i], "score": round(s, 6)} for i, s in match.top_k],
        candidates=len(request.candidates), candidate_source=request.candidate_source,
        account_known=request.account_known, segment_count=ready.segment_count,
        alerts_withheld=None if request.has_words else "no_words",
        model_version=model_version, template_version=template_version,
        timings_ms={"queue": max(0, queue_ms), "inference": round(inference_ms, 2),
                    "end_to_end": max(0, produced_at - ready.trigger_ts)},
        produced_at=produced_at,
    )


def alerts_for(attribution: Attribution, request: Request, settings: Settings) -> list[Alert]:
    """A complaint above the threshold alerts QA; a near-tie between the top two asks for a human review."""
    label = next(l for l in request.candidates if l["label_id"] == attribution.label_id)
    found = []
    if (attribution.task == "complaint" and label.get("alert", True)
            and attribution.score >= settings.complaint_alert_threshold):
        found.append(("complaint", f"投诉归因「{label['name']}」得分 {attribution.score:.3f} ≥ {settings.complaint_alert_threshold}"))
    if attribution.candidates > 1 and attribution.margin < settings.review_margin_threshold:
        found.append(("review", f"低置信度：与第二候选相差 {attribution.margin:.3f} < {settings.review_margin_threshold}"))
    return [
        Alert(idempotency_key=f"{attribution.call_id}:{attribution.task}:{kind}:{attribution.model_version}",
              alert_id=f"{attribution.call_id}:{attribution.task}:{kind}",
              kind=kind, call_id=attribution.call_id, user_id=attribution.user_id, task=attribution.task,
              label_id=attribution.label_id, label_name=attribution.label_name,
              score=attribution.score, margin=attribution.margin, reason=reason,
              model_version=attribution.model_version, produced_at=now_ms())
        for kind, reason in found
    ]


def forbidden_alert(segment: Segment, rule: Rule, phrase: str) -> Alert:
    """A forbidden phrase said: alerted as the segment arrives, one alert per rule and segment."""
    return Alert(idempotency_key=f"{segment.call_id}:rule:{rule.rule_id}:{segment.seq}",
                 alert_id=f"{segment.call_id}:rule:{rule.rule_id}:{segment.seq}", kind="forbidden_phrase",
                 call_id=segment.call_id, user_id=segment.user_id, rule_id=rule.rule_id, rule_name=rule.name,
                 severity=rule.severity, phrase=phrase, seq=segment.seq,
                 reason=f"禁语「{phrase}」（{rule.name}，{rule.severity}）出现在第 {segment.seq} 段", produced_at=now_ms())


def scorecard_record(ready: CallReady, results: list[RuleResult], talk: Talk, finals: list[Attribution],
                     model_version: str) -> Scorecard:
    """The finished call's scorecard: every rule's result, the talk figures, the final attribution per task."""
    total = score(results)
    return Scorecard(
        idempotency_key=f"{ready.call_id}:scorecard:{model_version}", call_id=ready.call_id, user_id=ready.user_id,
        agent_id=ready.agent_id, score=total.score, critical_failed=total.critical_failed,
        rules=[r.to_dict() for r in results], talk=talk.to_dict(),
        attributions=[{"task": a.task, "label_id": a.label_id, "label_name": a.label_name, "score": a.score}
                      for a in finals],
        segment_count=ready.segment_count, started_at=ready.started_at, model_version=model_version,
        produced_at=now_ms())


def call_vector_record(attribution: Attribution, vector, snippet: str, started_at: int | None) -> CallVector:
    """The vector a final attribution was matched with, kept so that later labels and searches meet the call."""
    return CallVector(idempotency_key=f"{attribution.call_id}:{attribution.task}:{attribution.model_version}",
                      call_id=attribution.call_id, user_id=attribution.user_id, task=attribution.task,
                      vector=[round(float(x), 6) for x in vector], snippet=snippet, started_at=started_at,
                      model_version=attribution.model_version, template_version=attribution.template_version,
                      produced_at=attribution.produced_at)


def pseudo_label_record(ready: CallReady, context: str, sentences: list[str], template_version: str) -> PseudoLabel:
    """`context` is the rendered, redacted call; `sentences` its extractive summary."""
    return PseudoLabel(idempotency_key=f"{ready.call_id}:pseudo_label:{template_version}", call_id=ready.call_id,
                       user_id=ready.user_id, context_text=context, summary_sentences=sentences,
                       summary="".join(sentences), template_version=template_version, produced_at=now_ms())


def health_record(worker_name: str, component: str, status: str, detail: str) -> Health:
    since = now_ms()
    return Health(idempotency_key=f"{worker_name}:{component}:{status}:{since}", worker=worker_name,
                  component=component, status=status, since=since, detail=detail, produced_at=since)


WINDOWS = {"5m": 5, "15m": 15, "60m": 60}  # name -> minutes, the current one included
MINUTE_S = 60


def window_counts(label_id: str, label: dict, per_minute: dict[float, int], now_s: float) -> LabelCount:
    """The label_count record of one label from its counts per minute start (epoch seconds)."""
    current = now_s // MINUTE_S * MINUTE_S
    series = [{"minute": int((current - MINUTE_S * i) * 1000), "count": per_minute.get(current - MINUTE_S * i, 0)}
              for i in range(59, -1, -1)]
    counts = {name: sum(m["count"] for m in series[-n:]) for name, n in WINDOWS.items()}
    return LabelCount(
        label_id=label_id, task=label["task"], label_name=label["name"], counts=counts,
        # Rising fastest: this 5 minutes' rate against the 10 minutes before.
        rise=round(counts["5m"] / 5 - (counts["15m"] - counts["5m"]) / 10, 3),
        per_minute=series, window_end=int((current + MINUTE_S) * 1000), produced_at=now_ms(),
    )

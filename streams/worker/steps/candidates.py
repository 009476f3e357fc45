"""Candidate labels by keyword (method step Y2), and the rendered request per call and task."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from streams.core.codec import decode
from streams.core.errors import DecodeError
from streams.core.records import TASKS, CallReady
from streams.core.render import Template, has_words, render


def select_candidates(catalog: list[dict], task: str, call_text: str) -> tuple[list[dict], str]:
    """Active labels of `task` whose keywords occur in the call, plus labels without keywords (they cannot be
    found by keyword, e.g. 无投诉); all active labels of the task when no keyword matches."""
    return candidates_among(active_labels(catalog, task), call_text)


def active_labels(catalog: list[dict], task: str) -> list[dict]:
    return sorted((l for l in catalog if l["task"] == task and l["active"]), key=lambda l: l["label_id"])


def candidates_among(active: list[dict], call_text: str) -> tuple[list[dict], str]:
    """select_candidates on a task's active labels, sorted once per batch rather than per call."""
    hit = [l for l in active if any(k in call_text for k in l["keywords"])]
    if not hit:
        return active, "all"
    return [l for l in active if not l["keywords"] or l in hit], "keywords"


@dataclass
class Request:
    event: object  # the faust event of the call_ready record
    ready: CallReady
    task: str
    text: str  # rendered: context template and the task's prompt
    candidates: list[dict]
    candidate_source: str
    account_known: bool
    has_words: bool = True  # False: no turn has a letter or digit; attributed (accounted), but no alert, no pseudo-label


def plan(events: list, catalog: list[dict], account_of: Callable[[str], dict | None],
         template: Template) -> tuple[list[Request], list[tuple[object, str, str]]]:
    """Rendered texts and candidates per call and task; records that cannot be attributed, with the reason."""
    requests, rejected = [], []
    active = {task: active_labels(catalog, task) for task in TASKS}
    for event in events:
        try:
            ready = decode(event.message.value, "call_ready")
        except DecodeError as exc:
            rejected.append((event, exc.reason, exc.detail))
            continue
        account = account_of(ready.user_id)
        call_text = "".join(t["text"] for t in ready.turns)
        words = has_words(call_text)
        planned = []
        for task in TASKS:
            candidates, source = candidates_among(active[task], call_text)
            if not candidates:
                rejected.append((event, "no_candidates", f"no active {task} labels in the catalog"))
                planned = []
                break
            planned.append(Request(event, ready, task, render(ready.turns, account, task, template), candidates, source,
                                   account is not None, words))
        requests.extend(planned)
    return requests, rejected

"""`callqa export-csv`: a period's results as CSV for people who live in spreadsheets: UTF-8 with a BOM (without it
Excel reads Chinese as mojibake), times in the call centre's zone, one row per final attribution (of the newest
model per call and task), alert or scorecard."""
from __future__ import annotations

import csv
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

# what -> its query over [since, until) of its time column (the CSV columns are the query's); attributions: the final ones
QUERIES = {
    "attributions": ("SELECT call_id, user_id, task, label_id, label_name, score, margin, segment_count, "
                     "alerts_withheld, model_version, template_version, produced_at FROM final_attributions "
                     "WHERE produced_at >= %s AND produced_at < %s ORDER BY produced_at, call_id, task"),
    "attributions+provisional": (
        "SELECT call_id, user_id, task, final, label_id, label_name, score, margin, segment_count, alerts_withheld, "
        "model_version, template_version, produced_at FROM attributions "
        "WHERE produced_at >= %s AND produced_at < %s ORDER BY produced_at, call_id, task"),
    "alerts": ("SELECT produced_at, kind, call_id, user_id, task, label_id, label_name, score, margin, rule_id, "
               "rule_name, severity, phrase, seq, reason, model_version, alert_id FROM alerts "
               "WHERE produced_at >= %s AND produced_at < %s ORDER BY produced_at, call_id"),
    "scorecards": ("SELECT call_id, agent_id, user_id, call_time, score, critical_failed, rules, talk, attributions, "
                   "segment_count, model_version, produced_at FROM scorecards "
                   "WHERE call_time >= %s AND call_time < %s ORDER BY call_time, call_id"),
}
WHAT = ("attributions", "alerts", "scorecards")
TALK = ("agent_ms", "customer_ms", "agent_ratio", "longest_silence_ms", "longest_overlap_ms", "overlaps")


def parse_time(text: str, utc_offset_h: float) -> datetime:
    """A date (a day of the call centre: from its midnight at UTC+`utc_offset_h`) or an ISO time; one without a zone
    is the centre's too."""
    zone = timezone(timedelta(hours=utc_offset_h))
    try:
        day = date.fromisoformat(text)
        return datetime(day.year, day.month, day.day, tzinfo=zone)
    except ValueError:
        moment = datetime.fromisoformat(text)
        return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def export_csv(conn, what: str, since: datetime, until: datetime, out: Path, utc_offset_h: float = 8.0,
               provisional: bool = False) -> int:
    """Write the rows of [since, until) to `out`; returns how many. Streams through a server-side cursor, so a
    month of calls needs no memory of its own."""
    if what not in WHAT:
        raise ValueError(f"what: one of {WHAT}, not {what!r}")
    zone = timezone(timedelta(hours=utc_offset_h))
    query = QUERIES["attributions+provisional" if what == "attributions" and provisional else what]
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with open(out, "w", encoding="utf-8-sig", newline="") as file, conn.transaction(), \
            conn.cursor(name="callqa_export") as cur:
        cur.itersize = 2000
        cur.execute(query, (since, until))
        names = [c.name for c in cur.description]
        flatten = _scorecard_row if what == "scorecards" else dict
        writer = csv.writer(file)
        writer.writerow(flatten({**dict.fromkeys(names), "rules": [], "talk": {}, "attributions": []})
                        if what == "scorecards" else names)  # the header, also when the period is empty
        for record in cur:
            writer.writerow([_cell(v, zone) for v in flatten(dict(zip(names, record))).values()])
            rows += 1
    return rows


def _scorecard_row(values: dict) -> dict:
    """The JSON parts flattened for a spreadsheet: the failed rules by name, the talk figures, the label per task."""
    rules, talk, attributions = values.pop("rules"), values.pop("talk"), values.pop("attributions")
    row = dict(values)
    row["failed_rules"] = "、".join(r["name"] for r in rules if r["outcome"] == "fail")
    row["rules_failed"] = sum(r["outcome"] == "fail" for r in rules)
    row["rules_applied"] = sum(r["outcome"] != "n/a" for r in rules)
    row.update({key: talk.get(key) for key in TALK})
    labels = {a["task"]: a["label_name"] for a in attributions}
    row["product_label"], row["complaint_label"] = labels.get("product", ""), labels.get("complaint", "")
    return row


def _cell(value, zone: timezone):
    if isinstance(value, datetime):
        return value.astimezone(zone).isoformat(sep=" ", timespec="seconds")
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return value

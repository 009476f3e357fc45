"""The one function that renders the text the model sees, for serving and training alike (stdlib only), and the text
normalisation both share."""
from __future__ import annotations

import sys
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

SPEAKER_NAMES = {"customer": "用户", "agent": "客服"}
SENTENCE_END = "。！？!?"
UNKNOWN = "未知"


@dataclass(frozen=True)
class Template:
    """The method's context template and business prompts; its version is saved with the model."""

    version: str = "ctx-v2"
    context: str = (
        "当前用户的话费余额为({balance})，使用套餐为({plan_name})，套餐资费为({plan_fee})，"
        "包含流量({data_allowance})，当前对话内容为({dialogue})。"
    )
    prompts: dict[str, str] = field(
        default_factory=lambda: {"product": "当前对话属于什么产品？", "complaint": "当前对话的投诉内容是什么？",
                                 "topic": "当前对话的业务主题是什么？"}  # topic: the CSDS business topics
    )
    # Characters of dialogue kept; the head carries the reason for the call, the tail how it ended.
    max_dialogue_chars: int = 300
    head_share: float = 0.6


DEFAULT_TEMPLATE = Template()


# Text normalisation: the worker applies it to its inputs at the edge, and rendering applies it to every variable
# part, so training text (CSDS, products, the sample) reaches the model exactly as served text does. NFKC, then
# control and format characters (zero-width spaces and joiners, bidi marks, BOM, soft hyphen: Unicode categories Cc
# and Cf) removed, whitespace controls and other spaces made one space.
_SPACES = "\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85"


@lru_cache(maxsize=1)
def _translation() -> dict[int, str | None]:
    """Cc and Cf dropped, whitespace controls and every other space (Zs, Zl, Zp) one ASCII space (built once, 0.3 s)."""
    table = {}
    for cp in range(sys.maxunicode + 1):
        category = unicodedata.category(chr(cp))
        if category in ("Cc", "Cf", "Zs", "Zl", "Zp") and cp != 0x20:
            table[cp] = " " if category[0] == "Z" or chr(cp) in _SPACES else None
    return table


def normalise_text(text: str) -> str:
    """NFKC; control and zero-width characters dropped; runs of whitespace one space; stripped."""
    text = unicodedata.normalize("NFKC", text).translate(_translation())
    return " ".join(text.split()) if "  " in text or text[:1] == " " or text[-1:] == " " else text


def has_words(text: str) -> bool:
    """At least one letter or digit (an emoji, punctuation or whitespace alone carries no words)."""
    return any(ch.isalnum() for ch in text)


def _yuan(value: float) -> str:
    return f"{value:g}元"


def render_dialogue(turns: list[dict], template: Template = DEFAULT_TEMPLATE) -> str:
    """Turns as "用户：…。客服：…。", shortened in the middle to the template's budget."""
    parts = []
    for turn in turns:
        text = normalise_text(turn["text"])
        if text and text[-1] not in SENTENCE_END:
            text += "。"
        parts.append(f"{SPEAKER_NAMES.get(turn['speaker'], turn['speaker'])}：{text}")
    dialogue = "".join(parts)
    budget = template.max_dialogue_chars
    if len(dialogue) > budget:
        head = int(budget * template.head_share)
        dialogue = dialogue[:head] + "…" + dialogue[len(dialogue) - (budget - head - 1):]
    return dialogue


def render_context(turns: list[dict], account: dict | None, template: Template = DEFAULT_TEMPLATE) -> str:
    """The context template filled with the account (or 未知 where the account is missing) and the dialogue."""
    if account is None:
        values = dict(balance=UNKNOWN, plan_name=UNKNOWN, plan_fee=UNKNOWN, data_allowance=UNKNOWN)
    else:
        values = dict(
            balance=_yuan(account["balance_yuan"]),
            plan_name=normalise_text(account["plan_name"]),
            plan_fee=_yuan(account["plan_fee_yuan"]) + "每月",
            data_allowance=normalise_text(account["data_allowance"]),
        )
    return template.context.format(dialogue=render_dialogue(turns, template), **values)


def render(turns: list[dict], account: dict | None, task: str, template: Template = DEFAULT_TEMPLATE) -> str:
    """Task data = context text followed by the task's business prompt (method step Y1)."""
    return render_context(turns, account, template) + template.prompts[task]


def render_label(label: dict) -> str:
    """The text a candidate label is embedded from (method step Y3)."""
    return _label_text(label["name"], label.get("description") or "")


@lru_cache(maxsize=100_000)
def _label_text(name: str, description: str) -> str:
    # Cached: the worker looks up every candidate's vector by its text, thousands per call with a large catalog.
    name = normalise_text(name)
    return f"{name}：{normalise_text(description)}" if description else name

"""Personal-data redaction for transcripts, pseudo-labels, logs and training text (standard library only).

`redact(text)` replaces identifiers with the masks the shared data already uses: [电话] [身份证号] [银行卡号] [邮箱]
[订单编号] [数字]. Matching runs on a normalised copy of the text (full-width ０-９ Ａ-Ｚ ＠ （）＋ and dash variants to
ASCII, runs of seven or more Chinese digit characters 幺三八… to digits), one character for one, so offsets found there
are offsets in the original: only the identifiers change, the rest of the text is kept as it is.

How a number is read:
- digit groups joined by a space, a dash or brackets form one chunk (ASR writes 138 1234 5678); the longest run of
  groups that validates is taken: mainland mobile 1[3-9]x (+86 / 0086 / 86 / a leading 0 allowed), landline with an
  area code (010-12345678, 0755-1234567, (021)…), 400/800 numbers → [电话]; 18 characters with a valid birth date and
  check character, or 15 digits with a valid date → [身份证号]; 16-19 digits passing Luhn → [银行卡号]. A comma
  between groups (ASR's pause in 138，1234，5678) is a soft join: only such a validated number may span it.
  A dot is a decimal point, never a join (138.1234.5678 is not read as a phone);
- a cue word shortly before decides what the format alone cannot (strong cues up to 12 characters before, in the
  same sentence with no digit or mask between; weak ones, words as often about something else, up to 4):
  订单号/单号/运单号/工单号 (weak: 订单) → [订单编号] for 6+ digits or letters and digits; 卡号/银行卡 → [银行卡号]
  without Luhn; 身份证 → [身份证号] without the check character; 座机/电话 → [电话] for a 7-8 digit local number;
  验证码/动态码/服务密码 (weak: 密码) → [数字] for 4-8 digits; QQ号/账号/会员号 → [数字] for 5+ digits. Public numbers
  (10086, 1008611, 95588, 12315) never take a cue's kind;
- verification codes and service passwords are credentials, so they are masked, but only after a cue word: six
  digits alone are as often a count, a price or a model number;
- letters followed by 8+ digits (JD2023…, SF1234…, EA123456789CN, JD 2023 1105 …) → [订单编号]; QQ6930454 → QQ[数字];
- any other run of 8+ digits → [数字], and so is a number read in groups (10+ digits, groups of 3+) that does not
  validate, whole; except amounts and quantities (a unit follows: 元 万 G M 分钟 个 … or ¥ precedes), compact dates
  (20240305), one digit repeated (66666666), lists of round numbers or years (100 200 300 500, 2023 2024 2025) and
  SMS service ports (106…, 8-13 digits: public numbers of the carriers and their partners);
- a long number followed shortly by 订单/单号/这一单/快递 is an order number: [订单编号] rather than [数字].

Kept: amounts (29元, 20.5元, 12345元), dates (2024年3月5日, 2024-03-05), times (10:30), percentages, allowances (30G,
1000M宽带), plan and model names (校园学霸29元套餐, iPhone 15, 小米13), service numbers (10086, 95588), short counts,
last-four digits (尾号5678). E-mail read out (zhangsan艾特163点com, li.si at qq dot com) is found too.
Names, street addresses, WeChat ids, licence plates and passports ([姓名] [地址] [账号] [车牌号] [护照号]) are found by
`streams.core.redact_words`, on the same normalised text; control and zero-width characters are dropped first.
Not handled: numbers read in Chinese shorter than 7 characters (验证码四五六七八九), e-mail with spaces inside the
name, and an identifier split across two ASR segments: redact the assembled text, not each segment, wherever a
number can straddle segments.
"""
from __future__ import annotations

import bisect
import logging
import re
from datetime import date

from streams.core.redact_words import find_words

MASKS = {
    "phone": "[电话]",
    "id_card": "[身份证号]",
    "bank_card": "[银行卡号]",
    "email": "[邮箱]",
    "order": "[订单编号]",
    "number": "[数字]",
    # found by the words around them (streams.core.redact_words)
    "name": "[姓名]",
    "address": "[地址]",
    "account_id": "[账号]",
    "plate": "[车牌号]",
    "passport": "[护照号]",
}
# Control and format characters (zero-width, bidi marks) go before matching: they could hide an identifier
# (138\u200b1234 5678), and none may reach a pseudo-label or training text. \t \n \r become spaces.
_CONTROLS = {cp: None for cp in [*range(0x00, 0x20), *range(0x7F, 0xA0), 0xAD, 0x061C, 0x180E, *range(0x200B, 0x2010),
                                 *range(0x202A, 0x202F), *range(0x2060, 0x2070), 0xFEFF, *range(0xFFF9, 0xFFFC)]}
_CONTROLS.update({0x09: " ", 0x0A: " ", 0x0D: " "})

# ------------------------------------------------------------------------------------------ normalisation
_NORMALISE = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}  # full-width ！..～ → ASCII
_NORMALISE.update({0x3000: 0x20, 0xA0: 0x20, 0xFFE5: 0xA5, 0x2010: 0x2D, 0x2011: 0x2D, 0x2012: 0x2D, 0x2013: 0x2D,
                   0x2014: 0x2D, 0x2212: 0x2D})
_CN_DIGITS = "〇零幺一二三四五六七八九"
_CN_TO_DIGIT = str.maketrans(_CN_DIGITS, "001123456789")
# Seven or more digit characters in a row (no 十/百/千, so never an amount): a number read out digit by digit.
_CN_RUN = re.compile(f"[{_CN_DIGITS}](?: ?[{_CN_DIGITS}]){{6,}}")


def _cn_digits(m: re.Match) -> str:
    run = m.group()
    # 一 that starts a word right after the number (一直, 一下, 一共) is no digit.
    end = len(run)
    if m.end() < len(m.string) and "\u4e00" <= m.string[m.end()] <= "\u9fff":
        while end and run[end - 1] == "一":
            end -= 1
    return run[:end].translate(_CN_TO_DIGIT) + run[end:]


def normalise(text: str) -> str:
    """Same length as `text`, position for position: full-width forms and Chinese digit runs made ASCII."""
    norm = text.translate(_NORMALISE)
    if _CN_RUN.search(norm):
        norm = _CN_RUN.sub(_cn_digits, norm)
    return norm


# --------------------------------------------------------------------------------------------- patterns
_EMAIL = re.compile(r"(?<![A-Za-z0-9_%+\-])(?<![A-Za-z0-9]\.)"  # from the start of the name, not from its middle
                    r"[A-Za-z0-9_%+\-]+(?:\.[A-Za-z0-9_%+\-]+)* ?@ ?"
                    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}")
# Read out by ASR: zhangsan艾特163点com, li.si at qq dot com (" at " a word of its own: Battle.net is no address).
_EMAIL_SPOKEN = re.compile(r"(?<![A-Za-z0-9_\-])(?<![A-Za-z0-9]\.)[A-Za-z0-9][A-Za-z0-9._\-]*(?: ?(?:@|艾特) ?| at )"
                           r"[A-Za-z0-9\-]+(?: ?(?:\.|点|dot) ?[A-Za-z0-9\-]+)*"
                           r" ?(?:\.|点|dot) ?(?:com|cn|net|org|edu|gov|cc|top|io)(?![A-Za-z])")
# Letters and digits in one token (JD20231105…, SF1234567890123, EA123456789CN); pure digits go through _CHUNK.
_TOKEN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*")
# Digit groups joined by a space, a dash or brackets, an optional leading ( or +, an optional trailing X (ID cards).
# A comma (ASR marks the pauses of someone reading a number out: 138，1234，5678) is a soft join: only a phone, ID
# or card number validated by its format may span it. A dot is a decimal point, never a join.
_CHUNK = re.compile(r"(?<![0-9A-Za-z])(?<![0-9]\.)(?:\(\+?|\+)?[0-9]+(?:(?:\) ?| {1,2}|-| - |[,，] ?)\(?[0-9]+)*"
                    r"(?:[ \-]?[Xx](?![A-Za-z]))?")
_GROUP = re.compile(r"[0-9]+[Xx]?|[Xx]")
_SOFT = re.compile(r"[,，]")
_DIGIT_RUN = re.compile(r"[0-9]+")
_PREFIX = re.compile(r"(?<![A-Za-z0-9])[A-Z]{1,4}[ \-]?$")  # JD 2023 1105 … read apart

_MOBILE = re.compile(r"0?1[3-9][0-9]{9}")
_LANDLINE = re.compile(r"0(?:10|2[0-9]|[3-9][0-9]{2})[1-9][0-9]{6,7}")
_LANDLINE_INTL = re.compile(r"(?:10|2[0-9]|[3-9][0-9]{2})[1-9][0-9]{6,7}")  # +86 10 12345678 drops the 0
_HOTLINE = re.compile(r"[48]00[0-9]{7}")
# 2024-03-05, 2024.3.5, 2024/03/05 inside a chunk: never an identifier, never a code or an order number.
_DATE = re.compile(r"(?<![0-9])(?:19|20)[0-9]{2}([\-./])(?:0?[1-9]|1[0-2])\1(?:0?[1-9]|[12][0-9]|3[01])(?![0-9])")
_COMPACT_DATE = re.compile(r"(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])")
_YEAR = re.compile(r"(?:19|20)[0-9]{2}")
_SMS_PORT = re.compile(r"106[0-9]{5,10}")  # service-provider SMS ports (10658000, 1065902012345): public, not personal

# Cue words: (strong, weak). A strong cue reaches up to 12 characters (订单号我看一下，是…), a weak one, a word that
# is as often about something else (订单, 手机, 密码), up to 4 (订单：…, 密码是…).
_CUES = {
    "id_card": ("身份证号码|身份证号|身份证|证件号码|证件号", "证件"),
    "bank_card": ("银行卡号|银行卡|储蓄卡|信用卡|借记卡|银联卡|卡号", "账户"),
    "order": ("订单编号|订单号码|订单号|订单ID|订单id|定单号|快递单号|运单号|物流单号|(?<!下)单号(?!码)|工单号|受理单号|流水号|"
              "交易号", "订单|定单|工单"),
    "code": ("验证码|校验码|动态码|动态密码|短信码|服务密码", "密码"),
    "account": ("QQ号码|QQ号|qq号|微信号|会员号|账号|客户编号", "QQ|qq|户号"),
    "phone": ("手机号码|手机号|电话号码|座机|联系方式|联系电话", "手机|电话|号码|拨打|回拨|致电|来电"),
}
_CUE = re.compile("|".join(f"(?P<{kind}>{strong})|(?P<{kind}_weak>{weak})" for kind, (strong, weak) in _CUES.items()))
_CUE_GAP = {False: 12, True: 4}
# Public numbers of the carriers, banks and authorities (10086, 1008611, 95588, 12315) are never personal.
_PUBLIC = re.compile(r"100[0-9]{2}[0-9]{0,3}|95[0-9]{3,4}|96[0-9]{3,4}|12[0-9]{3}|11[0-9]")
# A long number the caller then calls an order: 2312…，这是我的订单号 / 就是2312…这一单.
_ORDER_AFTER = re.compile(r"[^0-9。！？!?；;\n]{0,6}?(?:订单|单号|这一单|这单|运单|快递|包裹)")
_CUE_STOP = re.compile(r"[0-9。！？!?；;\n\]]")  # a mask between: the cue has had its number
# A number followed by one of these is an amount or a quantity (29元, 30G, 1000M宽带, 100分钟, 3个).
_UNITS = set("元块角毛分万亿千百兆秒次个位人天年月日周时条张台部件笔积%‰岁平米公倍斤克户套期GgMmKkTtBbWw")


# ------------------------------------------------------------------------------------------- validators
def _valid_date(year: int, month: int, day: int) -> bool:
    try:
        return 1900 <= year <= date.today().year and date(year, month, day) <= date.today()
    except ValueError:
        return False


def id_checksum(first17: str) -> str:
    """The GB 11643 check character of an 18-digit ID number."""
    total = sum(int(c) * (2 ** (17 - i) % 11) for i, c in enumerate(first17))
    return "10X98765432"[total % 11]


_LUHN_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def luhn_ok(digits: str) -> bool:
    """The Luhn check of bank card numbers."""
    values = [ord(c) - 48 for c in digits]
    return (sum(values[-1::-2]) + sum(_LUHN_DOUBLED[v] for v in values[-2::-2])) % 10 == 0


def _is_phone(d: str, plus: bool) -> bool:
    if not d.isdigit():
        return False
    rest = d[4:] if d.startswith("0086") else d[2:] if d.startswith("86") and (plus or len(d) == 13) else None
    if rest and (_MOBILE.fullmatch(rest) or _LANDLINE_INTL.fullmatch(rest)):
        return True
    return bool(_MOBILE.fullmatch(d) or _LANDLINE.fullmatch(d) or _HOTLINE.fullmatch(d))


def _is_id(d: str, cue: bool) -> bool:
    if len(d) == 18 and d[:17].isdigit() and d[17] in "0123456789Xx" and d[0] in "1234568":
        if not _valid_date(int(d[6:10]), int(d[10:12]), int(d[12:14])):
            return False
        return cue or id_checksum(d[:17]) == d[17].upper()
    if len(d) == 15 and d.isdigit() and d[0] in "123456":
        return _valid_date(1900 + int(d[6:8]), int(d[8:10]), int(d[10:12]))
    return False


def _is_card(d: str, cue: bool) -> bool:
    return d.isdigit() and (16 <= len(d) <= 19 and luhn_ok(d) or cue and 12 <= len(d) <= 19)


def _classify(d: str, plus: bool, cue: str | None, unit_after: bool) -> str | None:
    """What the digits `d` (no separators; a trailing X kept) are, given the nearest cue word."""
    n = len(d)
    by_cue = cue is not None and not unit_after and not _COMPACT_DATE.fullmatch(d)
    if by_cue and cue == "code" and 4 <= n <= 8 and d.isdigit() and not (n == 5 and _PUBLIC.fullmatch(d)):
        return "number"
    by_cue = by_cue and not _PUBLIC.fullmatch(d)
    if by_cue and cue == "order" and n >= 6:
        return "order"
    if _is_phone(d, plus):
        return "phone"
    if _is_id(d, cue == "id_card"):
        return "id_card"
    if _is_card(d, cue == "bank_card"):
        return "bank_card"
    if by_cue and cue == "phone" and 7 <= n <= 8 and d.isdigit() and d[0] != "0":
        return "phone"
    if by_cue and cue == "account" and n >= 5 and d.isdigit():
        return "number"
    return None


# ---------------------------------------------------------------------------------------------- finding
def _cue_before(norm: str, cues: list[tuple[int, str]], start: int) -> str | None:
    """The kind of the last cue word ending shortly before `start`, with no digit or sentence end between."""
    k = bisect.bisect_right(cues, (start, "~"))  # cues are (end, kind), in text order
    if k == 0:
        return None
    end, kind = cues[k - 1]
    weak = kind.endswith("_weak")
    if start - end <= _CUE_GAP[weak] and not _CUE_STOP.search(norm, end, start):
        return kind.removesuffix("_weak")
    return None


def _unit_after(norm: str, end: int) -> bool:
    while end < len(norm) and norm[end] == " ":
        end += 1
    return end < len(norm) and norm[end] in _UNITS


def _amount_before(norm: str, start: int) -> bool:
    return start > 0 and norm[start - 1] in "¥$"


def _chunk_spans(norm: str, m: re.Match, cues: list[tuple[int, str]], dates: list[tuple[int, int]]
                 ) -> list[tuple[str, int, int]]:
    groups = [(g.start() + m.start(), g.end() + m.start(), g.group()) for g in _GROUP.finditer(m.group())]
    if groups[0][2] in "Xx":
        return []
    if len(groups) > 1 and groups[-1][2] in "Xx":  # 002 X: the check character read apart
        s, _, d = groups[-2]
        groups[-2:] = [(s, groups[-1][1], d + groups[-1][2])]
    plus = "+" in m.group()[:2]
    cue = _cue_before(norm, cues, m.start())
    soft = [bool(_SOFT.search(norm, a[1], b[0])) for a, b in zip(groups, groups[1:])]  # soft[k]: between k and k+1
    protected = [any(a <= s < b for a, b in dates) for s, _, _ in groups]

    def longest(i: int, across_soft: bool) -> tuple[int, str] | None:
        """The longest run of groups from i that is an identifier. Across a soft join only groups read out one by
        one (at most 6 digits each, at least 3 before the join), and the run to the end of the chunk, else the
        shortest: 6222，0242，2619，8660，331 is one card, 138，1234，5678，139，… two phones."""
        best, digits, crossed, first_crossing = None, "", False, None
        for j in range(i, len(groups)):
            if j > i and soft[j - 1]:
                if not (across_soft and 3 <= len(groups[j - 1][2]) <= 6 and len(groups[j][2]) <= 6
                        and len(groups[i][2]) <= 6):
                    break
                crossed = True
            if protected[j]:
                break
            digits += groups[j][2]
            slice_cue = None if i or crossed else cue
            if len(digits) > (40 if slice_cue else 19):  # without a cue nothing is longer than 19 (+86 phones 15)
                break
            if len(digits) < 10 and slice_cue is None:  # nor shorter than 10 (400 numbers; 7-8 digit locals need a cue)
                continue
            kind = _classify(digits, plus and i == 0, slice_cue, _unit_after(norm, groups[j][1]))
            if kind:
                best = (j, kind)
                if crossed and first_crossing is None:
                    first_crossing = best
        return best if best is None or best[0] == len(groups) - 1 or first_crossing is None else first_crossing

    spans: list[tuple[str, int, int]] = []
    covered = [False] * len(groups)
    i = 0
    while i < len(groups):
        best = None if protected[i] else longest(i, False) or longest(i, True)
        if best is None:
            i += 1
            continue
        j, kind = best
        spans.append((kind, m.start() if i == 0 else groups[i][0], groups[j][1]))
        covered[i:j + 1] = [True] * (j + 1 - i)
        i = j + 1
    # A long number read in groups is one number: mask it whole when nothing in it validated, or when something
    # validated only from its middle (1754 0963 9209 8348 09 holds the landline 0963 92098348).
    digits = "".join(g[2] for g in groups)
    if (len(groups) > 1 and not any(soft) and not any(protected) and len(digits) >= 10 and digits.isdigit()
            and not any(_COMPACT_DATE.fullmatch(g[2]) for g in groups)
            and not all(len(g[2]) <= 4 and g[2].endswith("0") or _YEAR.fullmatch(g[2]) for g in groups)  # 100 200 500
            and not _unit_after(norm, m.end()) and not _amount_before(norm, m.start())
            and (not spans and all(len(g[2]) >= 3 for g in groups[:-1])
                 or spans and not covered[0] and len(groups[0][2]) >= 3 and all(len(g[2]) >= 2 for g in groups))):
        return [("number", m.start(), m.end())]
    for (s, e, d), done in zip(groups, covered):
        if not done and len(d) >= 8 and d.isdigit() and len(set(d)) > 1 and not _COMPACT_DATE.fullmatch(d) \
                and not _SMS_PORT.fullmatch(d) and not _unit_after(norm, e) and not _amount_before(norm, s):
            spans.append(("number", s, e))
    return spans


def find_identifiers(text: str) -> list[tuple[str, int, int]]:
    """Identifiers in `text` as (kind, start, end), sorted and non-overlapping; kinds are the keys of MASKS."""
    norm = normalise(text)
    words = find_words(norm)
    if not any(c.isdigit() for c in norm) and "@" not in norm and "艾特" not in norm and " at " not in norm:
        return _without_overlaps(words)
    cues = [(c.end(), c.lastgroup) for c in _CUE.finditer(norm)]  # kind or kind_weak
    found: list[tuple[str, int, int]] = [("email", e.start(), e.end()) for e in _EMAIL.finditer(norm)]
    if "艾特" in norm or " at " in norm:
        found += [("email", e.start(), e.end()) for e in _EMAIL_SPOKEN.finditer(norm)]
    for t in _TOKEN.finditer(norm):
        token = t.group()
        letters = sum(c.isalpha() for c in token)
        if letters == 0 or letters == 1 and token[-1] in "Xx":  # digits only, or an ID card's check X
            continue
        digits = max(map(len, _DIGIT_RUN.findall(token)), default=0)  # Z610D528W550C is a model, not an order
        if token[:2] in ("QQ", "qq") and token[2:].isdigit() and digits >= 5:  # QQ6930454
            found.append(("number", t.start() + 2, t.end()))
        elif digits >= 8 or digits >= 5 and _cue_before(norm, cues, t.start()) in ("order", "account"):
            found.append(("order", t.start(), t.end()))
    dates = [(d.start(), d.end()) for d in _DATE.finditer(norm)]
    for m in _CHUNK.finditer(norm):
        for kind, s, e in _chunk_spans(norm, m, cues, dates):
            if kind == "number" and _ORDER_AFTER.match(norm, e):
                kind = "order"
            if kind in ("order", "number"):
                prefix = _PREFIX.search(norm, max(0, s - 5), s)
                if prefix and prefix.group().strip(" -") not in ("QQ", "ID"):
                    kind, s = "order", prefix.start()
            found.append((kind, s, e))
    # A cue's own kind first where spans start together (护照 E12345678 is a passport, not an order number).
    return _without_overlaps(words + found)


def _without_overlaps(found: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Sorted, the earliest and then the longest span of overlapping ones kept."""
    found = sorted(found, key=lambda f: (f[1], f[1] - f[2]))
    spans: list[tuple[str, int, int]] = []
    for kind, s, e in found:
        if not spans or s >= spans[-1][2]:
            spans.append((kind, s, e))
    return spans


def redact(text: str) -> str:
    """`text` with every identifier replaced by its mask, control and zero-width characters dropped; everything else
    unchanged."""
    text = text.translate(_CONTROLS)
    spans = find_identifiers(text)
    if not spans:
        return text
    parts, last = [], 0
    for kind, s, e in spans:
        parts += [text[last:s], MASKS[kind]]
        last = e
    parts.append(text[last:])
    return "".join(parts)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message: handler.addFilter(RedactingFilter())."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True

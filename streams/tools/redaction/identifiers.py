"""How well `streams.core.redact` does on generated call-centre utterances: recall per kind, over-masking of clean text.

Two deterministic sets of the same size, built from phrase variants like streams/tools/sample/generate.py:
- PII utterances (customer and agent turns, telecom and e-commerce phrasing) with one or more identifiers each:
  valid mobile numbers (real prefixes), landlines, 400/800 numbers, ID cards (valid date and check character, some
  15-digit legacy ones), Luhn-valid bank cards (real BINs, 16-19 digits), e-mail addresses, order / waybill / work-order
  numbers (JD, Taobao, PDD, SF, EMS and telecom styles) and, as kind `number`, verification codes, service passwords,
  QQ and member numbers. Formats vary the way ASR and chat text do: contiguous, grouped with spaces or dashes, every
  digit apart, pauses written as commas, +86 / 0086 / (+86), brackets, full-width digits, digits read out as 一三八…,
  e-mail read out as 艾特/点, trailing punctuation or Chinese characters right after the number, several per
  utterance, innocuous numbers (amounts, dates) around them. About one order number in ten has no cue word.
- clean utterances full of innocuous numbers: amounts (29元 … 1234567元, ¥399, 1,280元), dates in every common form,
  times, percentages, allowances (30G, 1000M宽带, 100分钟), plan and model names, service numbers (10086, 95588),
  counts, years and ranges, last-four digits, places that are not addresses, versions, IP addresses, agent job numbers, and the cue words
  themselves without an identifier (验证码收不到, 订单号在哪看, 卡号后四位是1234), and SMS service ports (1065…).

Verification codes and service passwords count as personal data (kind `number`, mask [数字]): they are credentials
read out on the call. They are generated, and expected to be caught, only after a cue word (验证码, 动态码, 密码);
a bare six-digit number stays, in both sets.

An identifier is caught when every character of it except spaces, dashes and brackets lies inside a mask of any kind;
kind-exact when inside masks of its own kind. Over-masking = masked characters / all characters of the clean set.

    python -m streams.tools.redaction.identifiers [OUT_JSON] [--n 2000] [--seed 0]     (default .callqa/redaction-report.json)
"""
from __future__ import annotations

import argparse
import json
import random
import re
import time
from collections import Counter, defaultdict
from pathlib import Path

from streams.core.redact import MASKS, find_identifiers, id_checksum, luhn_ok, redact

KINDS = ["phone", "id_card", "bank_card", "email", "order", "number"]
TARGET_RECALL = 0.99
TARGET_OVERMASK = 0.01
_SEPARATORS = set(" -()（）　－,，")  # not part of an identifier's characters: 138 1234-5678 is 11 digits

# --------------------------------------------------------------------------------------------- identifiers
MOBILE_PREFIXES = ([f"13{d}" for d in range(10)] + ["145", "147", "149", "150", "151", "152", "153", "155", "156",
                   "157", "158", "159", "162", "165", "166", "167", "170", "171", "172", "173", "175", "176", "177",
                   "178"] + [f"18{d}" for d in range(10)] + ["190", "191", "192", "193", "195", "196", "197", "198",
                                                            "199"])
AREA_CODES = ["010", "020", "021", "022", "023", "024", "025", "027", "028", "029", "0755", "0571", "0512", "0731",
              "0351", "0871", "0591", "0532", "0757", "0769", "0411", "0451", "0531", "0551", "0771", "0898"]
REGIONS = ["110105", "110108", "310104", "310115", "440305", "440106", "330106", "510107", "420111", "320102",
           "370202", "610113", "500103", "350203", "430104", "210102", "120101", "130102", "410105", "450103",
           "530102", "620102", "650102", "441302", "362502", "522121", "230103", "340104"]
CARD_BINS = {"622202": 19, "621226": 19, "621700": 19, "622700": 19, "622848": 19, "621661": 19, "622588": 16,
             "621483": 16, "622609": 16, "628288": 16, "625965": 16, "436742": 16, "518710": 16, "622155": 16,
             "623062": 19, "621799": 19, "622262": 19, "621485": 16, "603367": 19, "622908": 18, "601382": 17}
EMAIL_USERS = ["zhangsan", "zhang.san", "li_si", "wangwu88", "xiaoming2019", "chen-jie", "liuyang.bj", "huang123",
               "sunny_zhao", "jackwang", "lily.chen", "hr.service", "yangfan1990", "Tom.Li", "mike2008", "zhou_xin",
               "tianxia_wuyu", "xu.hao.1987", "a123456", "service"]
EMAIL_DOMAINS = ["163.com", "126.com", "qq.com", "sina.com", "sina.cn", "gmail.com", "outlook.com", "hotmail.com",
                 "foxmail.com", "yeah.net", "139.com", "aliyun.com", "sohu.com", "huawei.com", "company.com.cn",
                 "mail.ustc.edu.cn", "vip.qq.com", "189.cn"]
FULL_WIDTH = str.maketrans("0123456789-()+@", "０１２３４５６７８９－（）＋＠")
CN_DIGITS = str.maketrans("0123456789", "零幺二三四五六七八九")


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _group(digits: str, sizes: list[int], sep: str) -> str:
    parts, i = [], 0
    for size in sizes:
        if i >= len(digits):
            break
        parts.append(digits[i:i + size])
        i += size
    if i < len(digits):
        parts.append(digits[i:])
    return sep.join(parts)


def _pick(rng: random.Random, weighted: list[tuple[str, float]]) -> str:
    return rng.choices([w[0] for w in weighted], [w[1] for w in weighted])[0]


def make_mobile(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + _digits(rng, 8)


def make_id(rng: random.Random, legacy: bool = False, want_x: bool = False) -> str:
    while True:
        region = rng.choice(REGIONS)
        year, month = rng.randint(1950, 2006), rng.randint(1, 12)
        day = rng.randint(1, 28)
        if legacy:
            return f"{region}{year % 100:02d}{month:02d}{day:02d}{_digits(rng, 3)}"
        first17 = f"{region}{year}{month:02d}{day:02d}{_digits(rng, 3)}"
        check = id_checksum(first17)
        if not want_x or check == "X":
            return first17 + check


def make_card(rng: random.Random) -> str:
    bin_, length = rng.choice(list(CARD_BINS.items()))
    body = bin_ + _digits(rng, length - len(bin_) - 1)
    for d in "0123456789":
        if luhn_ok(body + d):
            return body + d
    raise AssertionError("unreachable")


def fmt_phone(rng: random.Random) -> tuple[str, str]:
    sub = _pick(rng, [("mobile", 0.70), ("landline", 0.18), ("hotline", 0.08), ("cn_digits", 0.04)])
    if sub == "cn_digits":
        m = make_mobile(rng)
        return "mobile_cn_digits", rng.choice([m, _group(m, [3, 4, 4], " ")]).translate(CN_DIGITS)
    if sub == "hotline":
        d = rng.choice(["400", "800"]) + rng.choice("123456789") + _digits(rng, 6)
        style = rng.choice(["3-3-4", "3-4-3", "plain", "spaces"])
        text = {"3-3-4": _group(d, [3, 3, 4], "-"), "3-4-3": _group(d, [3, 4, 3], "-"), "plain": d,
                "spaces": _group(d, [3, 3, 4], " ")}[style]
        return f"hotline_{style}", text
    if sub == "landline":
        area = rng.choice(AREA_CODES)
        local = rng.choice("2345678") + _digits(rng, (8 if len(area) == 3 else rng.choice([7, 8])) - 1)
        style = _pick(rng, [("dash", 0.4), ("paren", 0.15), ("spaces", 0.15), ("plain", 0.15), ("fullwidth", 0.1),
                            ("intl", 0.05)])
        text = {"dash": f"{area}-{local}", "paren": f"({area}){local}", "plain": area + local,
                "spaces": f"{area} {_group(local, [4, 4] if len(local) == 8 else [3, 4], ' ')}",
                "fullwidth": f"（{area}）{local}".translate(FULL_WIDTH), "intl": f"+86-{area[1:]}-{local}"}[style]
        return f"landline_{style}", text
    m = make_mobile(rng)
    style = _pick(rng, [("plain", 0.32), ("3-4-4_spaces", 0.14), ("3-4-4_dashes", 0.08), ("plus86", 0.06),
                        ("plus86_spaces", 0.04), ("0086", 0.03), ("paren_plus86", 0.02), ("digit_spaces", 0.07),
                        ("irregular_spaces", 0.08), ("asr_commas", 0.05), ("fullwidth", 0.08),
                        ("fullwidth_spaces", 0.03)])
    text = {
        "plain": m, "3-4-4_spaces": _group(m, [3, 4, 4], " "), "3-4-4_dashes": _group(m, [3, 4, 4], "-"),
        "plus86": "+86" + m, "plus86_spaces": "+86 " + _group(m, [3, 4, 4], " "), "0086": "0086 " + m,
        "paren_plus86": "(+86)" + m, "digit_spaces": " ".join(m),
        "irregular_spaces": _group(m, rng.choice([[3, 3, 5], [4, 4, 3], [3, 8], [7, 4], [3, 4, 2, 2]]), " "),
        "asr_commas": _group(m, [3, 4, 4], rng.choice(["，", ","])), "fullwidth": m.translate(FULL_WIDTH),
        "fullwidth_spaces": _group(m, [3, 4, 4], " ").translate(FULL_WIDTH),
    }[style]
    return f"mobile_{style}", text


def fmt_local_phone(rng: random.Random) -> tuple[str, str]:
    local = rng.choice("2345678") + _digits(rng, 7)
    return "local_with_cue", rng.choice([local, _group(local, [4, 4], " "), _group(local, [4, 4], "-")])


def fmt_id(rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.07:
        d = make_id(rng, legacy=True)
        return "legacy15", rng.choice([d, _group(d, [6, 6, 3], " ")])
    d = make_id(rng, want_x=rng.random() < 0.2)
    style = _pick(rng, [("plain", 0.45), ("lower_x", 0.05), ("6-8-4_spaces", 0.12), ("4s_spaces", 0.07),
                        ("6-8-4_dashes", 0.04), ("3s_spaces", 0.05), ("digit_spaces", 0.05), ("asr_commas", 0.04),
                        ("fullwidth", 0.09), ("cn_digits", 0.04)])
    text = {"plain": d, "lower_x": d.lower(), "6-8-4_spaces": _group(d, [6, 8, 4], " "),
            "4s_spaces": _group(d, [4] * 5, " "), "6-8-4_dashes": _group(d, [6, 8, 4], "-"),
            "3s_spaces": _group(d, [3] * 6, " "), "digit_spaces": " ".join(d),
            "asr_commas": _group(d, [6, 4, 4, 4], "，"), "fullwidth": d.translate(FULL_WIDTH),
            "cn_digits": d.translate(CN_DIGITS)}[style]
    return f"id18_{style}{'_X' if d.endswith('X') else ''}", text


def fmt_card(rng: random.Random) -> tuple[str, str]:
    d = make_card(rng)
    style = _pick(rng, [("plain", 0.38), ("4s_spaces", 0.28), ("4s_dashes", 0.07), ("6_rest", 0.06),
                        ("irregular_spaces", 0.06), ("asr_commas", 0.04), ("fullwidth", 0.08),
                        ("fullwidth_4s", 0.03)])
    text = {"plain": d, "4s_spaces": _group(d, [4] * 5, " "), "4s_dashes": _group(d, [4] * 5, "-"),
            "6_rest": _group(d, [6], " "),
            "irregular_spaces": _group(d, rng.choice([[3, 4, 4, 4], [4, 3, 5], [6, 6]]), " "),
            "asr_commas": _group(d, [4] * 5, "，"), "fullwidth": d.translate(FULL_WIDTH),
            "fullwidth_4s": _group(d, [4] * 5, " ").translate(FULL_WIDTH)}[style]
    return f"card{len(d)}_{style}", text


def fmt_email(rng: random.Random) -> tuple[str, str]:
    domain = rng.choice(EMAIL_DOMAINS)
    user = str(rng.randint(10000, 99999999999)) if domain in ("qq.com", "vip.qq.com") and rng.random() < 0.7 \
        else rng.choice(EMAIL_USERS) + (str(rng.randint(1, 999)) if rng.random() < 0.3 else "")
    style = _pick(rng, [("plain", 0.78), ("upper", 0.04), ("spaces_at", 0.04), ("fullwidth_at", 0.05),
                        ("spoken_cn", 0.05), ("spoken_en", 0.04)])
    text = {"plain": f"{user}@{domain}", "upper": f"{user}@{domain}".upper(), "spaces_at": f"{user} @ {domain}",
            "fullwidth_at": f"{user}＠{domain}", "spoken_cn": f"{user}艾特{domain.replace('.', '点')}",
            "spoken_en": f"{user} at {domain.replace('.', ' dot ')}"}[style]
    return f"email_{style}", text


def fmt_order(rng: random.Random) -> tuple[str, str]:
    ymd = f"20{rng.randint(21, 24)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    style = _pick(rng, [("jd_alnum", 0.12), ("jd_digits", 0.22), ("taobao", 0.16), ("pdd", 0.08), ("sf", 0.1),
                        ("yto", 0.05), ("ems", 0.05), ("zto", 0.07), ("work_order", 0.15)])
    text = {"jd_alnum": "JD" + ymd + _digits(rng, 9), "jd_digits": rng.choice("23") + _digits(rng, 11),
            "taobao": rng.choice("1234") + _digits(rng, rng.choice([17, 18])),
            "pdd": ymd[2:] + "-" + _digits(rng, 15), "sf": "SF" + rng.choice("1234") + _digits(rng, 12),
            "yto": "YT" + _digits(rng, 13), "ems": "E" + rng.choice("ABCLMRS") + _digits(rng, 9) + "CN",
            "zto": rng.choice("67") + _digits(rng, 11), "work_order": ymd + _digits(rng, 8)}[style]
    if rng.random() < 0.1 and text.isdigit():
        return f"order_{style}_spaces", _group(text, [4] * 6, " ")
    if rng.random() < 0.08:
        return f"order_{style}_fullwidth", text.translate(FULL_WIDTH)
    return f"order_{style}", text


def fmt_code(rng: random.Random) -> tuple[str, str]:
    code = _digits(rng, rng.choice([4, 6, 6, 6]))
    return "code", rng.choice([code, code, " ".join(code)])


def fmt_account(rng: random.Random) -> tuple[str, str]:
    style = rng.choice(["qq", "member"])
    return f"account_{style}", str(rng.randint(10 ** 5, 10 ** 10)) if style == "qq" else _digits(rng, 10)


# ---------------------------------------------------------------------------------------------- PII turns
# Slots: {phone} {local} {id} {card} {email} {order} {code} {account}; innocuous {amount} {date} {gb} {count}.
PII_TEMPLATES = {
    "phone": [
        "我的手机号是{phone}，帮我查一下话费", "手机号码{phone}", "{phone}，这个号码是我的", "你打{phone}这个号就能找到我",
        "我换号了，新号码{phone}，以后打这个", "帮我查查{phone}这个号这个月扣了多少钱", "号码是{phone}吧？对，就是这个",
        "联系电话留{phone}就行", "我用的是{phone}", "嗯{phone}", "{phone}我要投诉你们", "我老婆的号{phone}也要加进来",
        "你先记一下{phone}，我怕一会儿断了", "是{phone}不是{phone}，你听错了", "刚才那个{phone}打过来说我中奖了",
        "家里座机是{phone}，白天没人", "我打{phone}一直没人接", "你们售后电话{phone}根本打不通",
        "您好，请问是机主{phone}本人吗？", "联系方式 Tel: {phone}", "我家电话{phone}转分机找我",
        "我这边看到您登记的联系电话是{phone}，对吗？", "稍后会有工作人员通过{phone}联系您",
        "您也可以拨打客服热线{phone}咨询", "已经给您{phone}这个号码发送了短信，请注意查收", "您要办理的号码是{phone}，{amount}的套餐对吧",
        "好的，{phone}这个号码{date}已经停机了", "装维师傅的电话是{phone}，他{date}上门", "商家的电话{phone}，您可以直接联系",
    ],
    "local": ["座机号码是{local}", "打我家电话{local}就行", "单位电话{local}，白天打这个", "我家座机{local}也是你们的"],
    "id_card": [
        "身份证号码是{id}", "我身份证号{id}，你核对一下", "证件号码{id}", "机主身份证是{id}，我是他儿子", "{id}，这是我的身份证号",
        "我念一下啊，{id}", "身份证最后一位是X的，{id}", "身份证{id}，名字是张伟", "嗯，{id}，对的", "我{id}帮我查一下名下有几个号",
        "跟您核对一下，身份证号码是{id}，对吗？", "您登记的证件号是{id}，麻烦确认一下", "请问机主证件号是{id}吗",
        "好的，{id}这个证件名下一共有{count}", "实名信息是{id}，{date}办理的",
    ],
    "bank_card": [
        "卡号{card}", "我银行卡号是{card}，扣款没成功", "绑定的是{card}这张卡", "工行的卡，{card}", "信用卡{card}被扣了两次费",
        "退款退到{card}这张卡上吧", "{card}，这张卡每个月自动扣{amount}", "自动缴费的卡号改成{card}", "就是{card}啊，你再查查",
        "您绑定的银行卡号是{card}，对吗？", "已为您登记退款账户{card}，三到五个工作日到账", "您说的是{card}这张储蓄卡吗",
    ],
    "email": [
        "邮箱 {email}", "我的邮箱是{email}，账单发这里", "发到{email}就行", "电子发票发{email}", "邮箱地址{email}。",
        "{email}这个邮箱收不到", "你记一下{email}，有问题发邮件给我", "我换邮箱了，现在用{email}", "账单能不能每月发到{email}",
        "已经发送到您的邮箱{email}了，请查收", "您预留的邮箱是{email}，对吗", "发票会在{date}前发到{email}",
    ],
    "order": [
        "订单号：{order}", "我的订单号是{order}，一直没发货", "单号{order}", "快递单号{order}查不到物流", "运单号是{order}",
        "工单号{order}，你们处理了吗", "我之前投诉的受理单号是{order}", "订单号我看一下啊，是{order}", "订单编号{order}，{date}下的单",
        "你帮我查一下订单{order}到哪了", "物流单号{order}，显示已签收但我没收到", "{order}，这是我的订单号",
        "已经给您提交了工单，单号是{order}", "您这个订单{order}已经出库了", "订单编号{order}的退款{amount}已经原路返回",
        "快递单号是{order}，预计{date}送达",
        # no cue word: the number alone
        "就是{order}这一单", "{order}，这个到哪了", "您说的是{order}吗",
    ],
    "number": [
        "验证码是{code}", "验证码：{code}", "收到的验证码{code}，你们要这个干嘛", "动态码{code}", "服务密码是{code}",
        "我密码{code}，是不是被人改了", "短信验证码{code}已经发给你了", "您报一下收到的验证码，——{code}",
        "QQ号{account}", "我QQ是{account}，加我", "会员号{account}", "我的账号是{account}",
    ],
}
NO_CUE_ORDER = {"就是{order}这一单", "{order}，这个到哪了", "您说的是{order}吗"}
MULTI_TEMPLATES = [
    "手机号{phone}，身份证号{id}", "卡号{card}，预留手机号{phone}", "订单号{order}，收件人电话{phone}", "邮箱{email}，手机{phone}",
    "身份证{id}，卡号{card}", "{phone}，{phone}，两个号都是我的", "我叫李明，身份证{id}，电话{phone}，邮箱{email}",
    "订单{order}退款退到{card}", "您的联系电话{phone}和邮箱{email}都已经更新了", "手机{phone}验证码{code}",
]
OPENINGS = ["", "", "", "喂，", "你好，", "嗯，", "那个，", "您好，", "对，", "就是说", "麻烦你，"]
CLOSINGS = ["", "", "", "，谢谢", "，麻烦快点", "。好的", "，你们快处理", "，对吧？", "啊", "，我等你们电话"]
SLOT_KIND = {"phone": "phone", "local": "phone", "id": "id_card", "card": "bank_card", "email": "email",
             "order": "order", "code": "number", "account": "number"}
SLOT_FMT = {"phone": fmt_phone, "local": fmt_local_phone, "id": fmt_id, "card": fmt_card, "email": fmt_email,
            "order": fmt_order, "code": fmt_code, "account": fmt_account}
_SLOT = re.compile(r"\{(\w+)\}")


# ------------------------------------------------------------------------------------------ innocuous values
def _amount(rng: random.Random) -> str:
    return _pick(rng, [
        (f"{rng.choice([5, 8, 9, 10, 19, 29, 30, 39, 50, 58, 59, 99, 100, 128, 129, 199, 299, 399, 599])}元", 4),
        (f"{rng.randint(1, 999)}块", 1), (f"{rng.randint(1, 300)}块钱", 1),
        (f"{rng.randint(1, 999)}.{rng.randint(1, 99)}元", 2),
        (f"¥{rng.randint(1, 9999)}", 0.5), (f"￥{rng.randint(1, 9999)}.00", 0.5), (f"{rng.randint(1000, 99999)}元", 1),
        (f"{rng.randint(1, 99)},{rng.randint(0, 999):03d}元", 0.5), (f"{rng.randint(1, 30)}.{rng.randint(1, 9)}万元", 0.5),
        (f"{rng.randint(100000, 9999999)}元", 0.5), ("0.01元", 0.2), (f"{rng.randint(10000000, 99999999)}元", 0.1)])


def _date(rng: random.Random) -> str:
    y, m, d = rng.randint(2015, 2025), rng.randint(1, 12), rng.randint(1, 28)
    return _pick(rng, [(f"{y}年{m}月{d}日", 3), (f"{m}月{d}号", 3), (f"{y}-{m:02d}-{d:02d}", 2), (f"{y}/{m}/{d}", 1),
                       (f"{y}.{m:02d}.{d:02d}", 1), (f"{y}{m:02d}{d:02d}", 0.3), (f"{y}年{m}月", 1), (f"{m}月{d}日前", 1),
                       (f"{y}-{m:02d}-{d:02d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}", 1),
                       (f"下个月{d}号", 1), (f"{m}.{d}", 0.5)])


def _time(rng: random.Random) -> str:
    return _pick(rng, [(f"{rng.randint(0, 23)}:{rng.randint(0, 59):02d}", 3), ("9:00-18:00", 1), ("8:30到17:30", 1),
                       (f"下午{rng.randint(1, 6)}点半", 1), (f"晚上{rng.randint(7, 11)}点", 1),
                       (f"{rng.randint(10, 23)}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}", 1)])


def _gb(rng: random.Random) -> str:
    return _pick(rng, [(f"{rng.choice([1, 2, 3, 5, 6, 10, 15, 20, 30, 40, 50, 60, 100])}G", 3),
                       (f"{rng.choice([10, 20, 30, 50, 100])}GB", 1), (f"{rng.randint(1, 9)}.{rng.randint(1, 9)}GB", 1),
                       (f"{rng.choice([100, 300, 500, 800])}M", 1), (f"{rng.randint(1000, 99999)}MB", 1),
                       (f"{rng.randint(100000, 9999999)}KB", 0.5)])


def _count(rng: random.Random) -> str:
    return rng.choice([f"{rng.randint(2, 7)}个工作日", f"{rng.randint(1, 30)}天", "120天", f"{rng.randint(12, 72)}小时",
                       f"{rng.randint(2, 9)}次", f"{rng.randint(2, 20)}年", f"{rng.randint(2, 5)}张", "12个月",
                       f"{rng.randint(2, 5)}个号", f"{rng.randint(2, 9)}个订单", f"{rng.randint(1000, 99999)}积分",
                       f"{rng.randint(10000, 999999)}人", "7天无理由"])


PLANS = ["校园学霸29元套餐", "5G畅享129元套餐", "199元全家享", "神州行5元卡", "大王卡19元", "4G飞享38元套餐", "5G智享套餐299元档",
         "花卡宝藏版39元", "冰激凌套餐99元", "全家享融合套餐169元", "5G新通话59元", "畅享套餐2024版"]
MODELS = ["iPhone 15", "iPhone 15 Pro Max", "iPhone 13", "小米13", "小米14 Ultra", "华为Mate 60 Pro", "华为P60", "荣耀X50",
          "OPPO Reno11", "vivo X100", "红米K70", "三星S24 Ultra", "iPad Air 5", "MatePad 11", "Redmi Note 12 Turbo",
          "AX3000路由器", "TL-WDR5620路由器", "F650光猫", "HG8245C光猫", "RTX4090显卡", "小米电视 65英寸", "iQOO Neo9",
          "一加12", "Apple Watch S9", "荣耀Magic6", "Nova 12", "华为WS5200", "天翼网关2.0"]
SERVICE_NUMBERS = ["10086", "10010", "10000", "12315", "95588", "95533", "114", "12345", "1008611", "12321", "95555",
                   "110", "120", "10011"]
CLEAN_SLOTS = {
    "amount": _amount, "date": _date, "time": _time, "gb": _gb, "count": _count,
    "pct": lambda r: r.choice([f"{r.randint(1, 100)}%", f"{r.randint(0, 9)}.{r.randint(1, 9)}%", "100%"]),
    "bw": lambda r: r.choice(["1000M", "300兆", "500Mbps", "100M", "2000M", "千兆"]) + r.choice(["宽带", "", "的"]),
    "minutes": lambda r: f"{r.choice([100, 200, 300, 500, 1000, 1500])}分钟" + r.choice(["", "通话", "国内通话"]),
    "plan": lambda r: r.choice(PLANS), "model": lambda r: r.choice(MODELS), "svc": lambda r: r.choice(SERVICE_NUMBERS),
    "year": lambda r: r.choice([f"{r.randint(1950, 2025)}年", f"{r.randint(2015, 2024)}-{r.randint(2016, 2025)}年",
                                f"{r.randint(2015, 2024)}年到{r.randint(2016, 2025)}年", f"{r.randint(60, 99)}年"]),
    "range": lambda r: r.choice([f"{r.randint(10, 200)}-{r.randint(201, 999)}元",
                                 f"{r.randint(1, 3)}-{r.randint(4, 7)}个工作日",
                                 f"{r.randint(10, 50)}~{r.randint(60, 200)}G", "10 20 30 50", "19 29 39 59 99"]),
    "period": lambda r: r.choice(["2024.03.01-2024.03.31", "20240301-20240331", "2024-03-01至2024-03-31",
                                  "2023年12月到2024年2月", "每月1号到5号", "2024年03月05日15时30分", "3.1-3.31"]),
    "offer": lambda r: r.choice(["9.9折", "0.1元/M", "5元10G", "30G+10G定向", "100元=1000积分", "满300减50", "首月1元",
                                 "HUAWEI P40 Pro+ 5G", "光猫SN码ZTEGC8A1B2C3", "第12345位来电", "1 2 3 三个档"]),
    "tail4": lambda r: _digits(r, 4),
    # SMS service ports: public, not personal, but as long as a phone number; masked by the 8+ digit rule.
    "port": lambda r: r.choice(["10658000", "1065902012345", "106575550123", "10690" + _digits(r, 8), "1069070069"]),
    "workid": lambda r: str(r.randint(1000, 99999)),
    # Places that are not an address (street addresses are personal data: streams.core.redact_words, measured by
    # streams.tools.redaction.words).
    "address": lambda r: r.choice(["公司楼下", "学校宿舍", "老家农村", "营业厅旁边", "小区门口", "人民路那边", f"{r.randint(2, 9)}楼",
                                   "市区", "县城里"]),
    "version": lambda r: r.choice([f"iOS {r.randint(14, 18)}.{r.randint(0, 6)}",
                                   f"版本{r.randint(5, 12)}.{r.randint(0, 9)}.{r.randint(0, 9)}",
                                   f"鸿蒙{r.randint(2, 4)}.0", "192.168.1.1", "192.168.31.1", "5G", "4G", "WiFi 6"]),
}
CLEAN_TEMPLATES = [
    "我这个月话费扣了{amount}，上个月才{amount}", "套餐是{plan}，包含{gb}通用流量和{minutes}", "我{date}交的{amount}，怎么还没到账",
    "营业厅{time}开门吗", "宽带是{bw}，一年{amount}", "我用的是{model}，支持5G吗", "我打{svc}一直打不通", "验证码一直收不到，都等了{count}了",
    "订单满{amount}包邮吗", "身份证上是{year}出生的，能办学生套餐吗", "卡号后四位是{tail4}", "我的手机尾号是{tail4}", "{date} {time}的时候突然就没信号了",
    "流量用了{pct}就提醒我", "我这个手机号用了{count}了，不想换", "这个月用了{gb}，还剩{gb}", "积分还有{count}，能换什么", "价格区间是{range}",
    "这几个档位 {range} 元的都有", "我住在{address}，{bw}能装吗", "系统版本是{version}", "一共{count}，总共{amount}", "您好，工号{workid}为您服务",
    "我们{date}到{date}有活动，充{amount}送{amount}", "您的套餐{date}到期，续约送{gb}", "您这个月已使用流量{gb}，剩余{gb}",
    "余额还有{amount}，欠费{amount}", "一共是{amount}，分{count}", "您的宽带速率是{bw}，建议升级到{bw}", "订单号在哪里看？我{date}下的单",
    "我忘了服务密码，{date}改过一次", "银行卡扣款失败，扣了{amount}又退回来了", "邮箱收不到账单，{date}以后就没有了", "身份证过期了还能办吗，{year}办的",
    "订单号后四位是{tail4}", "密码要{count}", "验证码{count}内有效", "我下单的时候是{amount}，现在降到{amount}了", "{model}现在是{amount}吗",
    "我{year}就在你们这里开的户，用了{count}了", "现在{time}了还没人上门", "路由器地址是{version}", "每个月{minutes}，{gb}流量，{amount}",
    "我在{address}，{date}下午能装吗", "网速只有{bw}，测出来才{gb}", "话费账单{date}出，{date}扣款", "{plan}能不能改成{plan}",
    "您现在的套餐是{plan}，月租{amount}，剩余通话{minutes}", "退款{amount}会在{range}内到账", "客服热线是{svc}，{time}都有人",
    "已经帮您登记了，{count}内回复", "活动时间是{period}，{offer}", "现在有个活动，{offer}，{period}有效",
    "那条短信是{port}发来的，是你们的吗", "我每个月{date}都收到{port}的扣费短信", "您这个月超出流量{gb}，产生费用{amount}",
    "现在办{plan}送{model}", "我家{address}，老人的号用了{count}",
]


# ---------------------------------------------------------------------------------------------- building
_NUMBER_EDGE = re.compile(r"(?<=[0-9])(?=[\u4e00-\u9fff])|(?<=[\u4e00-\u9fff])(?=[0-9])")


def _asr_spaces(rng: random.Random, text: str) -> str:
    """ASR-style spaces between a number and the Chinese around it."""
    return _NUMBER_EDGE.sub(lambda _: " " if rng.random() < 0.7 else "", text)


def _fill(rng: random.Random, template: str, no_cue: bool = False
          ) -> tuple[str, list[tuple[str, str, int, int]], list[tuple[str, int, int]]]:
    """The utterance, its identifiers (kind, format, start, end) and its innocuous items (category, start, end)."""
    text, items, clean = "", [], []
    for k, part in enumerate(_SLOT.split(template)):
        if k % 2 == 0:
            text += part
            continue
        if part in SLOT_FMT:
            fmt, value = SLOT_FMT[part](rng)
            if no_cue:
                fmt += "_no_cue"
            before = " " if rng.random() < 0.1 and text and text[-1] not in " ，" else ""
            text += before
            items.append((SLOT_KIND[part], fmt, len(text), len(text) + len(value)))
            text += value + (" " if rng.random() < 0.1 else "")
        else:
            value = CLEAN_SLOTS[part](rng)
            if rng.random() < 0.06:
                value = value.translate(FULL_WIDTH)
            clean.append((part, len(text), len(text) + len(value)))
            text += value
    return text, items, clean


def generate(n: int = 2000, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """`n` utterances with identifiers and `n` clean ones; each a dict(text, identifiers, items)."""
    rng = random.Random(seed)
    pii, clean = [], []
    kinds = list(PII_TEMPLATES)
    weights = [0.22, 0.02, 0.16, 0.16, 0.14, 0.18, 0.12]  # phone, local, id_card, bank_card, email, order, number
    for _ in range(n):
        if rng.random() < 0.15:
            template = rng.choice(MULTI_TEMPLATES)
        else:
            kind = rng.choices(kinds, weights)[0]
            template = rng.choice(PII_TEMPLATES[kind])
        no_cue = template in NO_CUE_ORDER
        text, items, _ = _fill(rng, rng.choice(OPENINGS) + template + rng.choice(CLOSINGS), no_cue)
        # Drop the punctuation right after an identifier now and then: Chinese characters follow directly.
        if rng.random() < 0.2:
            for kind, fmt, s, e in items[:1]:
                if (e + 1 < len(text) and text[e] in "，。？！、" and "\u4e00" <= text[e + 1] <= "\u9fff"
                        and text[e + 1] not in "零幺一二三四五六七八九"):
                    text = text[:e] + text[e + 1:]
                    items = [(k, f, a - (a > e), b - (b > e)) for k, f, a, b in items]
        pii.append(dict(text=text, identifiers=items))
    for _ in range(n):
        template = rng.choice(CLEAN_TEMPLATES)
        if rng.random() < 0.3:
            template += "，" + rng.choice(CLEAN_TEMPLATES)
        text, _, items = _fill(rng, rng.choice(OPENINGS) + template + rng.choice(CLOSINGS))
        if rng.random() < 0.12:  # ASR spacing: "2024 年 3 月", "充 50 元"
            spaced = _asr_spaces(rng, text)
            text, items = spaced, _relocate(text, spaced, items)
        clean.append(dict(text=text, items=items))
    return pii, clean


def _relocate(old: str, new: str, items: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Map spans of `old` into `new`, which is `old` with spaces inserted."""
    mapping, j = [], 0
    for c in old:
        while new[j] != c:
            j += 1
        mapping.append(j)
        j += 1
    mapping.append(len(new))
    return [(cat, mapping[s], mapping[e - 1] + 1) for cat, s, e in items]


# --------------------------------------------------------------------------------------------- measuring
def mask_map(text: str) -> list[str | None]:
    """Per character of `text`, the kind of the mask covering it (None: kept)."""
    kinds: list[str | None] = [None] * len(text)
    for kind, s, e in find_identifiers(text):
        kinds[s:e] = [kind] * (e - s)
    return kinds


def measure(n: int = 2000, seed: int = 0) -> dict:
    """Recall per kind on `n` utterances with identifiers, over-masking on `n` clean ones (deterministic)."""
    pii, clean = generate(n, seed)
    counts, caught, exact = Counter(), Counter(), Counter()
    by_format: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    missed: dict[str, list[dict]] = defaultdict(list)
    context_chars = context_masked = 0
    for utt in pii:
        text, masks = utt["text"], mask_map(utt["text"])
        inside = [False] * len(text)
        for kind, fmt, s, e in utt["identifiers"]:
            inside[s:e] = [True] * (e - s)
            chars = [i for i in range(s, e) if text[i] not in _SEPARATORS]
            ok = all(masks[i] is not None for i in chars)
            ok_exact = all(masks[i] == kind for i in chars)
            counts[kind] += 1
            caught[kind] += ok
            exact[kind] += ok_exact
            by_format[fmt][0] += 1
            by_format[fmt][1] += ok
            if not ok_exact and len(missed[kind]) < 8:
                missed[kind].append(dict(text=text, identifier=text[s:e], format=fmt, caught=ok,
                                         masked_as=sorted({m for m in masks[s:e] if m})))
        context_chars += sum(not x for x in inside)
        context_masked += sum(1 for i, x in enumerate(inside) if not x and masks[i] is not None)
    per_kind = {k: dict(count=counts[k], recall=caught[k] / counts[k] if counts[k] else None,
                        kind_exact_recall=exact[k] / counts[k] if counts[k] else None, misses=missed.get(k, []))
                for k in KINDS}
    total_chars = masked_chars = changed = 0
    item_hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    over_examples = []
    for utt in clean:
        text, masks = utt["text"], mask_map(utt["text"])
        total_chars += len(text)
        masked = sum(m is not None for m in masks)
        masked_chars += masked
        changed += masked > 0
        for cat, s, e in utt["items"]:
            item_hits[cat][0] += 1
            item_hits[cat][1] += any(masks[s:e])
        if masked and len(over_examples) < 12:
            over_examples.append(dict(text=text, redacted=redact(text)))
    overall = sum(caught.values()) / sum(counts.values())
    overmask = masked_chars / total_chars
    return dict(
        n=n, seed=seed, masks=MASKS, targets=dict(recall=TARGET_RECALL, overmask=TARGET_OVERMASK),
        pii=dict(utterances=len(pii), identifiers=sum(counts.values()), recall=overall,
                 kind_exact_recall=sum(exact.values()) / sum(counts.values()), per_kind=per_kind,
                 context_overmask=context_masked / context_chars,
                 per_format={f: dict(count=c, recall=k / c) for f, (c, k) in sorted(by_format.items())}),
        clean=dict(utterances=len(clean), chars=total_chars, masked_chars=masked_chars, overmask=overmask,
                   changed_share=changed / len(clean),
                   per_category={c: dict(items=t, masked=h) for c, (t, h) in sorted(item_hits.items())},
                   examples=over_examples),
        meets_targets=all(per_kind[k]["recall"] >= TARGET_RECALL for k in KINDS if counts[k])
        and overmask <= TARGET_OVERMASK,
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m streams.tools.redaction.identifiers", description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=".callqa/redaction-report.json")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    report = measure(args.n, args.seed)
    report["seconds"] = round(time.perf_counter() - started, 2)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2))

    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"redaction on {report['pii']['utterances']} + {report['clean']['utterances']} generated "
                        f"utterances (seed {args.seed})")
    for col in ("kind", "mask", "identifiers", "recall", "kind-exact"):
        table.add_column(col, justify="left" if col in ("kind", "mask") else "right")
    for kind in KINDS:
        row = report["pii"]["per_kind"][kind]
        if row["count"]:
            style = "" if row["recall"] >= TARGET_RECALL else "red"
            table.add_row(kind, MASKS[kind], str(row["count"]), f"{row['recall']:.4f}",
                          f"{row['kind_exact_recall']:.4f}", style=style)
    table.add_row("all", "", str(report["pii"]["identifiers"]), f"{report['pii']['recall']:.4f}",
                  f"{report['pii']['kind_exact_recall']:.4f}", style="bold")
    console.print(table)
    c = report["clean"]
    console.print(f"clean text: {c['masked_chars']} of {c['chars']} characters masked = {c['overmask']:.4%} "
                  f"(target ≤ {TARGET_OVERMASK:.0%}); {c['changed_share']:.2%} of clean utterances changed; "
                  f"context around identifiers masked: {report['pii']['context_overmask']:.4%}")
    weak = {f: r for f, r in report["pii"]["per_format"].items() if r["recall"] < 1}
    if weak:
        console.print("formats below 100 %: "
                      + ", ".join(f"{f} {r['recall']:.3f} (n={r['count']})" for f, r in weak.items()))
    console.print(f"{'meets' if report['meets_targets'] else '[red]misses[/red]'} the targets; "
                  f"{report['seconds']} s; report written to {out}")
    return report


if __name__ == "__main__":
    main()

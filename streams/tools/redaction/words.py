"""How well `streams.core.redact` finds the personal data of `streams.core.redact_words`: recall per kind (names, addresses,
WeChat ids, licence plates, passport numbers) and over-masking of clean text full of near misses.

Deterministic sets, built from the lists below (none of it is from the training data):
- per kind, utterances with one identifier in a cue phrase as callers and agents say it, with the openings and
  closings of streams.tools.redaction.identifiers; names from common surnames (single and compound) and given names of one or two
  characters; addresses from provinces, cities, districts, roads, numbers, estates, buildings, units and rooms in the
  forms people give them (a full address, city + district + road + number, a road and number alone, an estate and
  building, building-unit-room); WeChat ids of WeChat's shape; plates of every province, petrol and new-energy;
  passports E/G/EA-style;
- clean utterances with the same characters in other roles: 超市 市场 地区 小区宽带 路由器 线路 一路 几号 3号线 5号到期
  二楼 先生/女士 without a name, 我叫了外卖, 我是想问, cities alone, roads without numbers, plan and model names,
  京东 and 苏宁 with numbers, amounts.

An identifier is caught when each of its characters (spaces and the dot of a plate aside) lies inside a mask of any
kind; kind-exact when inside masks of its own kind. Over-masking = masked characters / all characters of the clean set.

    python -m streams.tools.redaction.words [OUT_JSON] [--n 300] [--seed 0]
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from streams.core.redact import redact
from streams.core.redact_words import COMPOUND_SURNAMES
from streams.tools.redaction.identifiers import CLOSINGS, OPENINGS, mask_map

KINDS = ["name", "address", "account_id", "plate", "passport"]
SINGLE = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢")
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英", "小明",
         "建国", "志强", "海燕", "丽娟", "晓东", "文博", "子涵", "浩然", "雨轩", "欣怡", "俊杰", "梓萱", "国庆", "春梅", "红霞"]
NAME_TEMPLATES = ["我叫{full}", "我叫{full}，想查一下话费", "您好，我叫{full}，我的宽带坏了", "我姓{surname}", "免贵姓{surname}",
                  "请问是{surname}先生吗", "{surname}女士您好，这边是客服", "好的{surname}小姐，稍等", "谢谢{surname}先生",
                  "机主名字是{full}", "姓名是{full}，身份证在这", "本人{full}，要办停机", "我是{full}，昨天打过电话",
                  "{full}先生，您的工单已经提交", "帮我转给{surname}女士", "名字叫{full}。"]
PROVINCES = [("广东省", ["深圳市", "广州市", "佛山市"]), ("浙江省", ["杭州市", "宁波市"]), ("江苏省", ["南京市", "苏州市"]),
             ("四川省", ["成都市"]), ("湖北省", ["武汉市"]), ("山东省", ["济南市", "青岛市"]), ("", ["北京市", "上海市", "天津市", "重庆市"])]
DISTRICTS = ["海淀区", "朝阳区", "南山区", "福田区", "浦东新区", "西湖区", "武侯区", "江汉区", "鼓楼区", "天河区", "昌平县", "崂山区"]
ROADS = ["中关村大街", "人民路", "解放大道", "建设路", "中山北路", "文三路", "科技园南路", "长安街", "世纪大道", "和平里东街", "幸福巷"]
ESTATES = ["阳光小区", "碧桂园", "万科城", "翠苑", "金色家园", "锦绣花园", "华润大厦", "龙湖天街"]


def _address(rng: random.Random) -> str:
    province, cities = rng.choice(PROVINCES)
    city, district, road = rng.choice(cities), rng.choice(DISTRICTS), rng.choice(ROADS)
    number = f"{rng.randint(1, 999)}号"
    building = rng.choice([f"{rng.randint(1, 30)}号楼", f"{rng.randint(1, 30)}栋", f"{rng.randint(1, 9)}幢"])
    room = f"{rng.randint(1, 33)}{rng.randint(1, 9):02d}"
    return rng.choice([
        f"{province}{city}{district}{road}{number}",
        f"{city}{district}{road}{rng.randint(1, 99)}号院{building}{room}",
        f"{city}{district}{rng.choice(ESTATES)}{building}{rng.randint(1, 6)}单元{room}室",
        f"{road}{number}",
        f"{rng.choice(ESTATES)}{building}{room}",
        f"{building}{rng.randint(1, 6)}单元{room}",
        f"{district}{road}{number}{rng.choice(ESTATES)}",
        f"{province}{city}{district}",
    ])


ADDRESS_TEMPLATES = ["我住在{x}", "地址是{x}，麻烦上门", "装机地址{x}", "寄到{x}就行", "我家在{x}，宽带一直断", "收货地址写的是{x}",
                     "师傅来{x}修一下", "我现在在{x}，信号很差"]
_ID_CH = "abcdefghijkmnpqrstuvwxyz0123456789_"


def _wechat(rng: random.Random) -> str:
    head = rng.choice(["wxid_", "", "", "zhang", "li", "Sunny", "xiao", "Tom"])
    body = "".join(rng.choice(_ID_CH) for _ in range(rng.randint(6, 12)))
    first = rng.choice("abcdefghkmnprstwxyz") if not head else ""
    return (head + first + body)[:20]


WECHAT_TEMPLATES = ["我的微信号是{x}", "加我微信{x}", "微信：{x}，发我", "vx {x}", "你加一下我微信号{x}吧", "微信号码是{x}，备注宽带"]
_PLATE_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE_CH = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"


def _plate(rng: random.Random) -> str:
    letter = rng.choice("ABCDEFGHJKLMN")
    if rng.random() < 0.3:  # new energy: D or F and five digits
        rest = rng.choice("DF") + "".join(rng.choice("0123456789") for _ in range(5))
    else:
        rest = "".join(rng.choice(_PLATE_CH) for _ in range(4)) + rng.choice("0123456789")
    return rng.choice(_PLATE_PROVINCES) + letter + rng.choice(["", "", "·", " "]) + rest


PLATE_TEMPLATES = ["车牌{x}", "我的车牌号是{x}", "车牌号码{x}，停在楼下", "{x}这辆车", "违章的是{x}吗", "车是{x}"]


def _passport(rng: random.Random) -> str:
    digits = "".join(rng.choice("0123456789") for _ in range(8))
    return rng.choice([f"E{digits}", f"G{digits}", f"EA{digits[:7]}", f"P{digits[:7]}"])


PASSPORT_TEMPLATES = ["护照号{x}", "我的护照号码是{x}", "护照 {x}，出国要用", "用护照{x}实名的", "护照编号：{x}"]
CLEAN = [
    "我在超市买的充值卡", "市场部的电话打不通", "这个地区信号不好", "小区宽带能装吗", "路由器一直闪红灯", "线路检修要几天", "一路上都没信号",
    "几号能到账", "我坐3号线过去", "套餐5号到期", "二楼营业厅几点关门", "这位先生您好", "女士您好，请问办什么业务", "我叫了外卖进不了门",
    "我是想问一下流量", "我是老用户了", "北京市的号码能在上海用吗", "人民路那个营业厅还开吗", "您好，先生，请稍等", "京东买的手机",
    "苏宁易购的订单", "套餐是5G畅享129元套餐", "华为Mate 60 Pro支持吗", "我要投诉你们的服务", "这个月扣了29元", "市区和郊区资费一样吗",
    "区号是多少", "我们县城没有营业厅", "路上堵车晚到了", "街道办开的证明可以吗", "我家楼上信号好", "客服小姐姐态度很好", "谢谢您",
    "名字写错了", "姓名不对要改", "我的名字不对", "本人身份证办理", "微信支付可以吗", "微信上绑定了", "用微信缴费", "护照可以办卡吗",
    "我在国外，护照过期了", "车载WiFi怎么收费", "小米13和iPhone 15哪个好", "这单号在哪看", "第3栋那边信号差", "去年办的",
    "王者荣耀卡顿", "张嘴就扣费", "高速上没信号", "何时能修好", "周末有人上门吗", "黄金会员怎么开", "马上给我处理", "朱总让我打的",
    "江湖救急，帮我开一下机", "文件发我邮箱", "白天没网", "程序员套餐有吗", "方便的话明天来", "金卡会员有优惠吗", "林林总总扣了好几次",
]


def generate(n: int = 300, seed: int = 0) -> tuple[list[dict], list[str]]:
    """`n` utterances per kind, each {text, kind, span}; and the clean set, each clean phrase in its openings."""
    rng = random.Random(seed)
    items = []
    makers = {
        "name": lambda: None,
        "address": lambda: (_address(rng), ADDRESS_TEMPLATES),
        "account_id": lambda: (_wechat(rng), WECHAT_TEMPLATES),
        "plate": lambda: (_plate(rng), PLATE_TEMPLATES),
        "passport": lambda: (_passport(rng), PASSPORT_TEMPLATES),
    }
    for kind in KINDS:
        for _ in range(n):
            opening, closing = rng.choice(OPENINGS), rng.choice(CLOSINGS)
            if kind == "name":
                surname = rng.choice(SINGLE) if rng.random() < 0.9 else rng.choice(COMPOUND_SURNAMES)
                template = rng.choice(NAME_TEMPLATES)
                value = surname if "{surname}" in template else surname + rng.choice(GIVEN)
                body = template.replace("{surname}", "{x}").replace("{full}", "{x}")
            else:
                value, templates = makers[kind]()
                body = rng.choice(templates)
            start = len(opening) + body.index("{x}")
            items.append({"text": opening + body.replace("{x}", value) + closing, "kind": kind,
                          "span": (start, start + len(value))})
    clean = [rng.choice(OPENINGS) + text + rng.choice(CLOSINGS) for text in CLEAN for _ in range(3)]
    return items, clean


def measure(n: int = 300, seed: int = 0) -> dict:
    items, clean = generate(n, seed)
    per_kind = {k: {"count": 0, "caught": 0, "exact": 0, "misses": []} for k in KINDS}
    context_chars = context_masked = 0
    for item in items:
        cover, (s, e) = mask_map(item["text"]), item["span"]
        inside = [cover[i] for i in range(s, e) if item["text"][i] not in " ·"]
        row = per_kind[item["kind"]]
        row["count"] += 1
        if all(inside):
            row["caught"] += 1
            row["exact"] += all(k == item["kind"] for k in inside)
        elif len(row["misses"]) < 5:
            row["misses"].append(redact(item["text"]))
        outside = [c for i, c in enumerate(cover) if not s <= i < e]
        context_chars += len(outside)
        context_masked += sum(1 for c in outside if c)
    clean_chars = sum(len(t) for t in clean)
    clean_masked = sum(sum(1 for c in mask_map(t) if c) for t in clean)
    overmasked = [redact(t) for t in clean if any(mask_map(t))]
    for row in per_kind.values():
        row["recall"] = round(row["caught"] / row["count"], 4)
        row["kind_exact"] = round(row["exact"] / row["count"], 4)
    return {"per_kind": per_kind, "clean": {"utterances": len(clean), "overmask": round(clean_masked / clean_chars, 4),
                                            "overmasked": overmasked[:20]},
            "context_overmask": round(context_masked / max(context_chars, 1), 4)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=".callqa/redaction-words-report.json")
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    report = measure(args.n, args.seed)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    for kind, row in report["per_kind"].items():
        print(f"{kind:<11} recall {row['recall']:.3f}  kind-exact {row['kind_exact']:.3f}  ({row['count']})")
    print(f"over-masking: clean {report['clean']['overmask']:.4f}, context {report['context_overmask']:.4f}")
    return report


if __name__ == "__main__":
    main()

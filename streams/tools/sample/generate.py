"""A synthetic but realistic sample of Chinese telecom customer-service calls, as JSONL event files.

Writes the label catalog, the QA rules (rules.jsonl next to this file), accounts, transcript events (call_start /
segment / call_end), human labels and the ground truth. The labels and their phrase variants are data, in
catalogue.jsonl next to this file. Some agents break the QA rules: a forbidden phrase, no greeting, talking over the
customer (drawn from a generator of their own, so the calls are otherwise those of the same seed without them). Dialogues are
built from phrase variants with slot values; about a quarter of the calls mention a second product in passing and
about a quarter avoid every keyword of their labels, so keyword lookup alone cannot solve the task. Personal data
is already masked ([电话], [订单编号] ...). Standard library only and deterministic for a given seed:
    python -m streams.tools.sample.generate OUT_DIR --calls 300 --seed 7
"""
from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from streams.core.accounts import DAY_MS, random_account

# ---------------------------------------------------------------------------------------------- catalogue
# The label catalogue is data: catalogue.jsonl next to this file, one label a line, with its task ("product" or
# "complaint") and phrase variants. Products: ask: customer phrasings; reply: agent answers; mention: a passing
# question (？, answered) or remark in another call; things: how the caller refers to it ({thing}); services: what
# gets subscribed by mistake ({service}); short: how a QA summary names it ({product}); summary: what a QA person
# writes for a plain enquiry. Complaints: products: the products the complaint occurs with; say: customer
# complaints; reply: agent answers. The complaint line with id NO_COMPLAINT_ID is the "no complaint" label.
# Phrasings without any keyword of the label are the "paraphrase" variants.
CATALOGUE_PATH = Path(__file__).with_name("catalogue.jsonl")
NO_COMPLAINT_ID = "complaint.none"


def _load_catalogue(path: Path) -> tuple[list[dict], list[dict], dict]:
    """(products, complaints, the no-complaint label) from the catalogue JSONL, in file order."""
    products, complaints, none = [], [], None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        label = json.loads(line)
        task = label.pop("task")
        if task == "product":
            products.append(label)
        elif task == "complaint" and label["id"] == NO_COMPLAINT_ID:
            none = label
        elif task == "complaint":
            complaints.append(label)
        else:
            raise ValueError(f"{path}:{number}: unknown task {task!r}")
    if none is None:
        raise ValueError(f"{path}: no complaint label with id {NO_COMPLAINT_ID!r}")
    return products, complaints, none


PRODUCTS, COMPLAINTS, NO_COMPLAINT = _load_catalogue(CATALOGUE_PATH)
RULES_PATH = Path(__file__).with_name("rules.jsonl")

LABELS_UPDATED_AT = 1_767_139_200_000  # a day before the default start
LABELS = [dict(label_id=label["id"], task=task, name=label["name"], description=label["description"],
               keywords=label["keywords"], active=True, alert=task == "complaint" and label is not NO_COMPLAINT,
               updated_at=LABELS_UPDATED_AT)
          for task, labels in (("product", PRODUCTS), ("complaint", COMPLAINTS + [NO_COMPLAINT])) for label in labels]

# ----------------------------------------------------------------------------------------- generic turns
GREET = ["您好，很高兴为您服务，请问有什么可以帮您？", "您好，客服中心，请问有什么可以帮您？", "您好，工号[工号]为您服务，请问您有什么需要？",
         "您好，欢迎致电客服热线，请问有什么可以帮到您？"]
OPENER = ["喂，你好，我想咨询个事。", "你好你好，那个我想问一下。", "喂？能听到吗？我想问点事情。", "你好，麻烦问一下。", "喂，你好，是人工吗？"]
GO_ON = ["您请讲。", "嗯，您说。", "能听到的，您请讲。", "是的，请问有什么可以帮您？"]
VERIFY = [("请问您是机主本人吗？", ["是的，我本人。", "对，是我。", "是的，号码是[电话]。", "对对，就是我本人。"]),
          ("请问您现在是用机主号码来电吗？", ["是的。", "对，就是这个号。", "不是，我用的是[电话]，查的是我自己的号。"])]
VERIFY_MORE = [("麻烦您报一下机主的姓名。", "[姓名]。"), ("麻烦报一下机主身份证后六位。", "[身份证号]。"), ("请问您的服务密码是多少？", "[密码]。")]
VERIFIED = ["好的，身份验证通过了。", "好的，核实通过，感谢您的配合。"]
HOLD = ["稍等一下我帮您查询。", "好的，您稍等，我这边帮您查一下。", "请您稍等，我看一下系统记录。"]
BACK = ["让您久等了，", "感谢您的耐心等待，", "", ""]
LEADIN = ["还有个事我得说一下，", "另外，我还有个问题要反映，", "哦对了，说到这个我就来气，", "还有啊，", "然后就是，"]
REACT = ["那你们尽快处理吧，我等你们消息。", "行吧，这次一定要给我解决。", "好，那我等你们电话。", "又是等，上次也是这么说的。",
         "那钱什么时候能退回来？", "我希望这次别再拖了。", "行，那就先这样。"]
FOLLOW = ["那要怎么办理？", "好的，那就帮我办一下吧。", "什么时候生效呢？", "那我考虑一下。", "要收手续费吗？", "行，那就这样吧。", "哦，明白了。"]
CONFIRM = ["好的，已经帮您办理成功，稍后会有短信通知。", "好的，您考虑好了可以随时来电。", "不收手续费的，您放心。", "好的，我这边已经帮您记录了。",
           "可以直接在APP上办，也可以我现在帮您办。"]
FILL_C = ["嗯。", "嗯嗯。", "好的。", "啊？你再说一遍。", "哦，这样啊。", "对。", "喂？还在吗？", "嗯，你说。", "我知道了。"]
FILL_A = ["嗯，您说。", "好的，我记录一下。", "嗯，是的。", "您的意思我明白了。", "我在的，您请讲。", "嗯，我在听。", "不好意思，刚才没听清，您再说一下？"]
ASIDE = ["好的，这个您有需要可以随时来电咨询。", "明白，那我们先把您刚才的问题处理好。", "好的，那个不着急，您需要的时候再联系我们。"]
CLOSE = ["请问还有其他可以帮您的吗？", "还有什么其他问题需要帮您的吗？"]
BYE_C = ["没有了，谢谢。", "没了没了，就这样。", "暂时没有了。", "没有了，你们快点处理就行。"]
BYE_A = ["感谢您的来电，稍后请对我的服务做出评价，再见。", "好的，祝您生活愉快，再见。", "好的，感谢您的耐心，再见。"]
DISFLUENCY = ["那个…", "就是说，", "呃，", "嗯…", "那个那个，", "就是，"]
# What a QA rule catches (rules.jsonl): said instead of an acknowledgement, or instead of the greeting.
RUDE = ["这个不归我管，您找别的部门吧。", "我说了好几遍了，你听不懂吗？", "爱办不办，规定就是这样。", "你自己去营业厅问吧。",
        "跟我说没用，系统就是这么算的。"]
NO_GREETING = ["喂。", "说吧，什么事？"]
NEUTRAL = "嗯，是这样的。"

# ---------------------------------------------------------------------------------------------- slots
SLOTS = dict(amount=["38元", "59元", "120元", "268元", "500多块", "九十多块", "15元", "一百八十多"],
             date=["上个月15号", "这个月初", "上周三", "前天", "昨天晚上", "月底那几天", "3号"],
             gb=["10G", "20G", "30G", "40G", "3G", "8G"], place=["泰国", "日本", "韩国", "新加坡", "美国", "欧洲", "马来西亚", "澳大利亚"],
             spot=["在家里", "在公司", "在小区地下车库", "在老家", "在地铁上", "在电梯里"], days=["三天", "一个星期", "好几天", "五天", "两天"],
             fee=["129元", "169元", "199元", "239元"],
             symptom=["光猫一直亮红灯", "网页根本打不开", "一会儿有网一会儿没网", "WiFi能连上但上不了网", "路由器灯一直在闪"])
ACTIONS = ["客服已提交工单", "客服已登记并承诺尽快回复", "客服已致歉并加急处理", "客服已提交核查申请"]
ENQUIRY_ACTIONS = ["客服已介绍办理方式", "客服已为其办理", "客服已解答，用户表示再考虑"]

MINUTE_MS = 60_000


def _has(text: str, words) -> bool:
    return any(w in text for w in words)


class _Talk:
    """Picks phrasings for one call: fills slots, avoids the call's keywords in a paraphrase call, prefers
    keyword-bearing variants for the first mention in a normal call, and avoids repeating itself."""

    def __init__(self, rng: random.Random, slots: dict, avoid: tuple[str, ...]):
        self.rng, self.slots, self.avoid, self.used = rng, slots, avoid, set()

    def pick(self, options, prefer=()) -> str:
        texts = [o.format(**self.slots) for o in options]
        ok = [t for t in texts if not _has(t, self.avoid)] if self.avoid else texts
        if not ok:
            return NEUTRAL
        ok = [t for t in ok if t not in self.used] or ok
        if prefer and not self.avoid:
            ok = [t for t in ok if _has(t, prefer)] or ok
        text = self.rng.choice(ok)
        self.used.add(text)
        return text


def _dialogue(rng: random.Random, product: dict, complaint: dict | None, slots: dict,
              paraphrase: bool, distractor: dict | None) -> list[tuple[str, str]]:
    """The call as (speaker, text) segments, 8-30 of them."""
    avoid = tuple(product["keywords"] + (complaint["keywords"] if complaint else [])) if paraphrase else ()
    t = _Talk(rng, slots, avoid)
    A, C = "agent", "customer"
    head = [(A, t.pick(GREET))]
    if rng.random() < 0.5:
        head += [(C, t.pick(OPENER)), (A, t.pick(GO_ON))]
    if rng.random() < 0.75:
        question, answers = rng.choice(VERIFY)
        head += [(A, question), (C, t.pick(answers))]
        if rng.random() < 0.5:
            question, answer = rng.choice(VERIFY_MORE)
            head += [(A, question), (C, answer), (A, t.pick(VERIFIED))]

    def exchange(asks, replies, prefer=()):  # a question and its answer, sometimes after a hold
        ask, reply = (C, t.pick(asks, prefer)), t.pick(replies, prefer)
        if rng.random() < 0.3:
            return [ask, (A, t.pick(HOLD)), (A, t.pick(BACK) + reply)]
        return [ask, (A, reply)]

    enquiry = exchange(product["ask"], product["reply"], product["keywords"])
    grievance = []
    if complaint is None:
        enquiry += [(C, t.pick(FOLLOW)), (A, t.pick(CONFIRM))]
        body = [enquiry]
    else:
        polite = rng.random() < 0.4  # starts with a plain enquiry; the complaint comes in the middle
        grievance = [(C, (t.pick(LEADIN) if polite else "") + t.pick(complaint["say"], complaint["keywords"])),
                     (A, t.pick(HOLD)), (A, t.pick(BACK) + t.pick(complaint["reply"], complaint["keywords"])),
                     (C, t.pick(complaint["say"])), (A, t.pick(complaint["reply"])), (C, t.pick(REACT))]
        body = [enquiry, grievance] if polite else [grievance, enquiry]
        if not polite:
            enquiry[0] = (C, t.pick(["另外，", "还有，", "然后我还想问一下，", ""]) + enquiry[0][1])
    if distractor is not None:  # a passing question or remark about another product
        mention = t.pick(distractor["mention"], distractor["keywords"])
        answer = t.pick(distractor["reply"], distractor["keywords"]) if mention.endswith("？") else t.pick(ASIDE)
        body.insert(rng.randint(0, len(body)), [(C, mention), (A, answer)])
    tail = [(A, t.pick(CLOSE)), (C, t.pick(BYE_C)), (A, t.pick(BYE_A))]
    target = rng.randint(8, 30)

    def size() -> int:
        return len(head) + sum(map(len, body)) + len(tail)

    while size() < target:  # more detail and acknowledgements, after the topic they belong to
        roll = rng.random()
        if roll < 0.3 and grievance:
            after, block = body.index(grievance) + 1, exchange(complaint["say"], complaint["reply"])
        elif roll < 0.5:
            after, block = body.index(enquiry) + 1, exchange(product["ask"], product["reply"])
        else:
            after, block = 0, [(C, t.pick(FILL_C)), (A, t.pick(FILL_A))]
        at = rng.randint(after, len(body))
        if (body[at - 1] if at else head)[-1][0] == C:
            block = [(A, t.pick(FILL_A))] + block
        body.insert(at, block[: target - size()])
    turns = head + [turn for block in body for turn in block] + tail
    segments, spare = [], 30 - len(turns)
    for speaker, text in turns:
        if speaker == C and rng.random() < 0.18:
            text = rng.choice(DISFLUENCY) + text
        cut = text.find("，", len(text) // 3)
        if spare > 0 and len(text) > 24 and 0 < cut < len(text) - 4 and rng.random() < 0.2:
            segments += [(speaker, text[: cut + 1]), (speaker, text[cut + 1:])]  # ASR cut at a pause
            spare -= 1
        else:
            segments.append((speaker, text))
    return segments


def _timeline(rng: random.Random, segments: list[tuple[str, str]]) -> list[tuple[int, int]]:
    """(start_ms, end_ms) per segment: ~4 characters a second, short gaps, a longer one after "please hold"."""
    spans, clock, last, held = [], rng.randint(300, 1500), None, False
    for speaker, text in segments:
        clock += rng.randint(100, 450) if speaker == last else rng.randint(250, 1200)
        if held:
            clock += rng.randint(3000, 15000)
        duration = max(500, int(len(text) * 250 * rng.uniform(0.8, 1.25)))
        spans.append((clock, clock + duration))
        clock, last, held = clock + duration, speaker, "稍等" in text
    return spans


def _break_rules(rng: random.Random, segments: list[tuple[str, str]], spans: list[tuple[int, int]]) -> None:
    """In place: about 8% of calls have a rude agent, 5% no greeting, 10% the agent talking over the customer."""
    acks = [i for i, (speaker, text) in enumerate(segments) if speaker == "agent" and text in FILL_A]
    if acks and rng.random() < 0.08:
        segments[rng.choice(acks)] = ("agent", rng.choice(RUDE))
    if rng.random() < 0.05:
        segments[0] = ("agent", rng.choice(NO_GREETING))
    turns = [i for i in range(1, len(segments)) if segments[i][0] == "agent" and segments[i - 1][0] == "customer"]
    if turns and rng.random() < 0.10:
        i = rng.choice(turns)
        (c_start, c_end), end = spans[i - 1], spans[i][1]
        spans[i] = (max(c_start + 200, c_end - rng.randint(800, 3000)), end)


def _summary(rng: random.Random, product: dict, complaint: dict | None, slots: dict) -> str:
    slots = dict(slots, product=product["short"])
    if complaint is None:
        return rng.choice(product["summary"]).format(**slots) + "，" + rng.choice(ENQUIRY_ACTIONS) + "。"
    return rng.choice(complaint["summary"]).format(**slots) + "，" + rng.choice(ACTIONS) + "。"


def _slots(rng: random.Random, product: dict, avoid: tuple[str, ...], account: dict) -> dict:
    """Slot values of one call; a paraphrase call takes values without its keywords."""
    pick = _Talk(rng, {}, avoid).pick
    slots = {name: pick(values) for name, values in SLOTS.items()}
    return slots | dict(thing=pick(product["things"]), service=pick(product.get("services", product["things"])),
                        plan=account["plan_name"], balance=f"{account['balance_yuan']:.2f}")


def _write(path: Path, records: list[dict]) -> int:
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return len(records)


def yesterday_ms() -> int:
    """00:00 UTC of the day before today: the sample's calls are recent, as the QA database's windows (the last 30
    days of calls for a back-fill, 1/7/30 days of agreement) expect of real ones, and the same all day."""
    return (int(time.time() * 1000) // DAY_MS - 1) * DAY_MS


def write_sample(out_dir: Path, calls: int = 300, seed: int = 7, start_ms: int | None = None,
                 human_label_fraction: float = 0.2, calls_per_minute: float = 30.0) -> dict[str, int]:
    """Write catalog, accounts, transcript, human_labels and truth JSONL files into out_dir; return line counts.
    `start_ms`: when the first call starts (default: yesterday_ms())."""
    if calls < 0 or calls_per_minute <= 0 or not 0 <= human_label_fraction <= 1:
        raise ValueError("calls >= 0, calls_per_minute > 0 and 0 <= human_label_fraction <= 1 required")
    rng = random.Random(seed)
    start_ms = yesterday_ms() if start_ms is None else start_ms
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    accounts: dict[str, dict] = {}  # user_id -> account, in order of the first call
    events, truth, ends = [], [], []
    arrival = float(start_ms)
    for i in range(calls):
        arrival += rng.expovariate(calls_per_minute / MINUTE_MS)
        begin = int(arrival)
        if accounts and rng.random() < 0.2:
            user_id = rng.choice(list(accounts))  # a repeat caller
        else:
            user_id = f"u-{len(accounts) + 1:05d}"
            accounts[user_id] = random_account(rng, user_id, start_ms)
        call_id, agent_id = f"call-{seed:02d}{i:05d}", f"agent-{rng.randint(1, 24):02d}"
        product = rng.choice(PRODUCTS)
        options = [c for c in COMPLAINTS if product["id"] in c["products"]]  # complaints common to all products are
        weights = [1 / len(c["products"]) for c in options]                  # drawn less often per product
        complaint = None if rng.random() < 0.3 else rng.choices(options, weights)[0]
        paraphrase = rng.random() < 0.25
        distractor = rng.choice([p for p in PRODUCTS if p is not product]) if rng.random() < 0.25 else None
        avoid = tuple(product["keywords"] + (complaint["keywords"] if complaint else [])) if paraphrase else ()
        slots = _slots(rng, product, avoid, accounts[user_id])
        segments = _dialogue(rng, product, complaint, slots, paraphrase, distractor)
        spans = _timeline(rng, segments)
        _break_rules(random.Random(f"rules-{seed}-{i}"), segments, spans)
        events.append(dict(type="call_start", call_id=call_id, user_id=user_id, agent_id=agent_id, event_time=begin))
        for seq, ((speaker, text), (s, e)) in enumerate(zip(segments, spans)):
            events.append(dict(type="segment", call_id=call_id, user_id=user_id, seq=seq, speaker=speaker, text=text,
                               start_ms=s, end_ms=e, event_time=begin + e))
        end_time = begin + spans[-1][1] + rng.randint(300, 3000)
        events.append(dict(type="call_end", call_id=call_id, user_id=user_id, segment_count=len(segments),
                           event_time=end_time))
        complaint_id = complaint["id"] if complaint else NO_COMPLAINT["id"]
        truth.append(dict(call_id=call_id, user_id=user_id, product=product["id"], complaint=complaint_id))
        ends.append((end_time, _summary(rng, product, complaint, slots)))
    events.sort(key=lambda e: e["event_time"])  # stable: a call's start stays ahead of its segments
    human = []
    for i in sorted(rng.sample(range(calls), round(calls * human_label_fraction))):
        label = truth[i]
        human.append(dict(call_id=label["call_id"], labels=dict(product=label["product"], complaint=label["complaint"]),
                          summary=ends[i][1], annotator=f"qa-{rng.randint(1, 5):02d}",
                          event_time=ends[i][0] + rng.randint(2 * MINUTE_MS, 15 * MINUTE_MS)))
    human.sort(key=lambda h: h["event_time"])
    unknown = set(rng.sample(list(accounts), round(len(accounts) * 0.05)))  # callers without an account record
    catalog = [dict(label, updated_at=max(0, start_ms - DAY_MS)) for label in LABELS]
    rules = [dict(json.loads(line), updated_at=max(0, start_ms - DAY_MS))
             for line in RULES_PATH.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {"catalog.jsonl": _write(out_dir / "catalog.jsonl", catalog),
            "rules.jsonl": _write(out_dir / "rules.jsonl", rules),
            "accounts.jsonl": _write(out_dir / "accounts.jsonl", [a for u, a in accounts.items() if u not in unknown]),
            "transcript.jsonl": _write(out_dir / "transcript.jsonl", events),
            "human_labels.jsonl": _write(out_dir / "human_labels.jsonl", human),
            "truth.jsonl": _write(out_dir / "truth.jsonl", truth)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m streams.tools.sample.generate", description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start-ms", type=int, default=None, help="epoch ms of the first call (default: yesterday 00:00 UTC)")
    parser.add_argument("--human-label-fraction", type=float, default=0.2)
    parser.add_argument("--calls-per-minute", type=float, default=30.0)
    args = parser.parse_args(argv)
    counts = write_sample(args.out_dir, args.calls, args.seed, args.start_ms, args.human_label_fraction,
                          args.calls_per_minute)
    print(json.dumps(counts, ensure_ascii=False))


if __name__ == "__main__":
    main()

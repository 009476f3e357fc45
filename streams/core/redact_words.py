"""Personal data found by the words around it (standard library only; `streams.core.redact` merges these spans with the
numbers it finds): names, street addresses, WeChat ids, licence plates, passport numbers.

- names → [姓名]: after 我叫 / 我姓 / 名字叫 / 名字是 / 姓名是 / 本人 and a common surname (我叫王小明 → 我叫[姓名];
  我姓王 → 我姓[姓名]); after 名字是 / 姓名是 / 名字叫 also without a known surname; 我是 + surname + one or two
  characters when a pause or the end follows (我是张伟，…); a surname (and up to two characters) right before
  先生 / 女士 / 小姐 / 经理 / 老师 / 主任 (王先生 → [姓名]先生); after 老公 / 老婆 / 户主 / 机主 / 联系人 / 收件人 …
  叫 / 是 + surname + one or two characters and a pause. Function characters (想 要 是 的 了 …) end a name;
- street addresses → [地址]: admin units (省 自治区 市 州 区 县 旗 镇 乡 街道) and a road (路 街 大街 大道 巷 胡同 弄)
  with its number, estate (小区 花园 苑 院 大厦 …), building (号楼 栋 幢 座), unit (单元), floor and room (室, or a bare
  number at the end: 3号楼502). Masked when there is a numbered road, two admin units, an admin unit and a road or
  an estate, or a building with a unit or room; a city alone, a road without a number, 3楼 or 5号 alone stay;
- WeChat ids → [账号]: after 微信 / 微信号 / vx / wx (and 是 / ： / 号是), 6-20 letters, digits, _ and -, starting with a
  letter (WeChat's own rule); a phone number there is a phone already;
- licence plates → [车牌号]: a province's one-character abbreviation, a letter, an optional dot or space, then 5
  letters and digits with at least one digit (京A12345, 粤B·D12345, 沪A 1B2C3);
- passport numbers → [护照号] after 护照 / 护照号 / 护照号码 (E12345678, G12345678, EA1234567); without the cue such a
  number is read as an order number ([订单编号]) by `streams.core.redact`.
"""
from __future__ import annotations

import re

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆"
    "汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易"
    "乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙"
    "鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞"
    "姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒", "夏侯",
                     "令狐", "端木", "独孤", "南宫", "西门", "轩辕", "呼延")
# Characters that end a name: verbs, particles, pronouns, words that follow a name in speech.
_STOP = "想要是的了在吗呢啊吧呀哦嗯哈我你您他她它们和跟与及或把被给就也都还又很太再才从到去来说问讲办查打让叫姓这那哪个一不没有今昨"
_NAME_CH = f"(?:(?![{_STOP}])[\u4e00-\u9fff])"
_SURNAME = f"(?:{'|'.join(COMPOUND_SURNAMES)}|[{SURNAMES}])"
_PAUSE = r"(?=$|[，,。.！!？?；;、\s]|[啊呀呢吧哈嘛])"
_NAME = re.compile(
    # 我姓王: the surname alone; 我叫王小明, 本人李四: a surname and up to two characters
    f"(?:我姓|贵姓)(?P<surname>{_SURNAME})"
    f"|(?:我叫|叫我|本人|我的名字叫|我名字叫|我的名字是|我名字是)(?P<cued>{_SURNAME}{_NAME_CH}{{0,2}})"
    f"|(?:名字叫|名字是|姓名是|姓名叫|姓名|名字)[：:是]?(?P<named>{_NAME_CH}{{2,4}}?){_PAUSE}"
    f"|我是(?P<intro>{_SURNAME}{_NAME_CH}{{1,2}}){_PAUSE}"
    f"|(?:老公|老婆|爱人|户主|机主|联系人|收件人|收货人|孩子|儿子|女儿|爸爸|妈妈|父亲|母亲)(?:的名字)?(?:叫|是)"
    f"(?P<relative>{_SURNAME}{_NAME_CH}{{1,2}}){_PAUSE}"
    f"|(?P<title>{_SURNAME}{_NAME_CH}{{0,2}}?)(?:先生|女士|小姐(?!姐)|经理|老师|主任)"
)

_THANKS = re.compile("谢谢|感谢|多谢")
_PLACE_CH = "(?:(?![我你您他她它们在住是的了吗呢啊吧呀哦嗯到去从来家址把给就也还想要请问说这那哪个改为])[\u4e00-\u9fff])"
_N = r"[0-9]+"
_ADDRESS = re.compile(
    f"(?P<province>{_PLACE_CH}{{2,6}}?(?:省|自治区|特别行政区))?"
    f"(?P<city>{_PLACE_CH}{{1,6}}?(?:市|州|盟))?"
    f"(?P<district>{_PLACE_CH}{{1,6}}?(?:区|县|旗))?"
    f"(?P<town>{_PLACE_CH}{{1,6}}?(?:镇|乡|街道))?"
    f"(?P<road>{_PLACE_CH}{{1,10}}?(?:大街|大道|路|街|巷|胡同)(?:[东西南北中]段)?(?P<road_no>{_N} ?(?:号院|号(?!楼)|弄))?)?"
    f"(?P<estate>{_PLACE_CH}{{1,8}}?(?:小区|花园|公寓|大厦|广场|天街|家园|新村|苑|府|园|院))?"
    f"(?P<yard>{_N} ?号?院)?"
    f"(?P<building>{_N} ?(?:号楼|栋|幢|座)|[A-Za-z] ?座)?"
    f"(?P<unit> ?{_N} ?单元)?"
    f"(?P<floor> ?{_N} ?(?:层|楼))?"
    f"(?P<room> ?{_N}(?: ?(?:室|户|号))?)?"
)
_WECHAT = re.compile(r"(?:微信号|微信|威信|vx|VX|Vx|wx|WX|weixin)(?:号码|号|账号|帐号|ID|id)?(?:是|为|：|:| )*(?P<id>[A-Za-z][-_A-Za-z0-9]{5,19})"
                     r"(?![-_A-Za-z0-9])")
_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE = re.compile(f"(?<![A-Za-z0-9])[{_PROVINCES}][A-HJ-NP-Za-hj-np-z][·•. -]?(?=[A-Za-z0-9]{{0,4}}[0-9])"
                    r"[A-HJ-NP-Za-hj-np-z0-9]{5,6}(?![A-Za-z0-9])")
_PASSPORT = re.compile(r"护照(?:号码|号|编号)?(?:是|为|：|:| )*(?P<id>[A-Za-z]{1,2} ?[0-9]{7,8})(?![0-9])")


def _address_span(m: re.Match) -> tuple[int, int] | None:
    g = {k: v is not None for k, v in m.groupdict().items()}
    admin = g["province"] + g["city"] + g["district"] + g["town"]
    numbered = g["road_no"] or g["yard"] or g["building"] or g["room"]
    building = g["building"] and (g["unit"] or g["room"] or g["floor"]) or g["yard"] and (g["building"] or g["room"])
    if (g["road"] and g["road_no"]) or admin >= 2 or admin and (g["road"] or g["estate"]) or building \
            or g["estate"] and numbered:
        s, e = m.span()
        return s, e
    return None


def find_words(norm: str) -> list[tuple[str, int, int]]:
    """Spans (kind, start, end) of names, addresses, WeChat ids, plates and passports in `norm` (the text as
    `streams.core.redact.normalise` makes it: full-width forms ASCII, same length)."""
    found: list[tuple[str, int, int]] = []
    for m in _PASSPORT.finditer(norm):
        found.append(("passport", m.start("id"), m.end("id")))
    for m in _WECHAT.finditer(norm):
        found.append(("account_id", m.start("id"), m.end("id")))
    for m in _PLATE.finditer(norm):
        found.append(("plate", m.start(), m.end()))
    if any(c in norm for c in "省市区县旗镇乡路街巷胡同弄号楼栋幢座单元室院苑"):
        pos = 0
        while pos < len(norm):
            m = _ADDRESS.match(norm, pos)
            span = _address_span(m) if m and m.end() > pos else None
            if span:
                found.append(("address", *span))
                pos = span[1]
            else:
                pos += 1
    for m in _NAME.finditer(_THANKS.sub("，，", norm)):  # 谢 is a surname, but not in 谢谢王先生
        group = next(k for k in ("surname", "cued", "named", "intro", "relative", "title") if m.group(k))
        found.append(("name", m.start(group), m.end(group)))
    return found

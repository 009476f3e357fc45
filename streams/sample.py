"""A synthetic but realistic sample of Chinese telecom customer-service calls, as JSONL event files.

Writes the label catalog, accounts, transcript events (call_start / segment / call_end), human labels and the
ground truth. Dialogues are built from phrase variants with slot values; about a quarter of the calls mention a
second product in passing and about a quarter avoid every keyword of their labels, so keyword lookup alone
cannot solve the task. Personal data is already masked ([电话], [订单编号] ...). Standard library only and
deterministic for a given seed:  python -m streams.sample OUT_DIR --calls 300 --seed 7
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

# ---------------------------------------------------------------------------------------------- products
# ask: customer phrasings; reply: agent answers; mention: a passing question (？, answered) or remark in another call;
# things: how the caller refers to it ({thing}); services: what gets subscribed by mistake ({service});
# short: how a QA summary names it ({product}); summary: what a QA person writes for a plain enquiry.
# Phrasings without any keyword of the label are the "paraphrase" variants.
PRODUCTS = [
    dict(id="product.5g_plan", short="5G套餐", name="5G套餐升级/变更",
         description="用户咨询或办理5G套餐的升级、降档或更换资费档位，了解不同档位的月租、流量、通话分钟数区别和变更生效时间。",
         keywords=["5G", "升级", "换套餐", "套餐变更", "档位"],
         things=["5G套餐", "新办的那个套餐", "现在这个资费", "新改的资费"], services=["5G加速包", "网速提速包"],
         ask=["我想把现在的套餐升级成5G的，{fee}那个有什么内容？", "你好，我想换套餐，现在这个流量老是不够用。",
              "我手机是5G的，但套餐还是4G的，能不能改一下？", "我想问一下5G套餐有哪几个档位，最便宜的多少钱？",
              "我想做个套餐变更，下个月开始换成{fee}的那个。", "现在每个月的月租能不能往上调一档，网速想快一点。",
              "我这个号的资费想改成高一点的，通话分钟数多一点的那种。", "你们新出的那个网速更快的那一代，我能办吗？",
              "我现在一个月才几个G不够用，想换个月租高一点、东西多一点的。"],
         reply=["目前5G套餐有好几个档位，{fee}的包含国内通用流量{gb}和500分钟通话。", "可以的，套餐变更是次月1号生效，本月还是按原套餐计费。",
                "我看了一下，您现在是{plan}，可以升级到{fee}的5G套餐。", "可以办理的，新的资费下个月1号开始执行，这个月还是按原来的算。",
                "我给您推荐{fee}这一档，流量多一些，通话也有五百分钟，您看可以吗？", "好的，已经帮您预约了，下个月1号生效，到时候会有短信通知您。"],
         mention=["对了，顺便问一下，5G套餐{fee}那档有多少流量？", "还有我想问问，换套餐要不要违约金？", "另外我还想升级一下套餐，这个改天再说吧。"],
         summary=["用户咨询5G套餐升级，了解{fee}档位的资费内容", "用户申请套餐变更，改为{fee}档位"]),
    dict(id="product.data_pack", short="流量加油包", name="流量加油包",
         description="用户在当月流量不够用时咨询或订购流量加油包、叠加包等临时流量产品，了解价格、流量容量和有效期。",
         keywords=["流量包", "加油包", "叠加包", "流量不够", "加个流量"],
         things=["流量包", "加油包", "临时加的上网包", "月底加买的小包"],
         ask=["我这个月流量不够用了，有没有流量加油包？", "想订一个流量包，{gb}的多少钱？", "我手机提示流量快用完了，能不能加个流量？",
              "你们那个叠加包是当月有效还是一直有效的？", "我想办个加油包，就这个月用一下。", "这个月上网的额度快用光了，有没有临时能多加一点的？",
              "我出差天天开热点，这个月的G数不够了，能补一点吗？", "就是那种买一次只管这个月、能多上点网的，有吗？",
              "我儿子用我手机看网课，这个月的额度全用完了，能不能再买一些？"],
         reply=["有的，目前有10元1G、30元6G和50元{gb}的流量加油包，当月有效。", "流量叠加包是当月有效，月底没用完会自动失效的。",
                "可以的，我这边帮您订购，订购后马上生效，月底到期。", "我们有几种临时的，10块钱1个G，30块钱6个G，您看要哪个？",
                "好的，已经给您办好了，稍后会收到短信提醒。", "我看您这个月已经用了{gb}，建议您买大一点的，比较划算。"],
         mention=["对了，顺便问一下，流量加油包现在有什么优惠吗？", "还有，加油包能不能每个月自动续上？", "哦对了，我这个月流量不够，回头再加个包。"],
         summary=["用户当月流量不足，咨询并订购{gb}流量加油包", "用户询问流量叠加包的价格和有效期"]),
    dict(id="product.broadband", short="家庭宽带", name="家庭宽带",
         description="用户咨询家庭宽带的新装、提速、续费、移机或报障，涉及光猫、路由器、WiFi和千兆宽带等家庭上网业务。",
         keywords=["宽带", "光猫", "WiFi", "路由器", "千兆", "装机"],
         things=["宽带", "家里的宽带", "家里的网", "家里上网的那个"],
         ask=["我想在家里装个宽带，现在有什么套餐？", "我家宽带快到期了，想问一下续费多少钱。", "我想把宽带提速到千兆，要加多少钱？",
              "我搬家了，宽带能不能移机到新地址？", "家里的WiFi老是连不上，路由器是不是要换一个？", "家里的网想弄快一点，现在打游戏老是延迟高。",
              "我们小区能不能拉根网线到家里，电脑要用。", "家里电脑上网那个年费快到了，想问问怎么续。", "新买的房子想开通家里上网，什么时候能上门？"],
         reply=["我们有300兆和千兆两档宽带，千兆的可以和手机套餐融合办理。", "宽带移机需要提供新地址，装维人员会在48小时内联系您上门。",
                "我查了一下，您的宽带是{date}到期，续费一年是{amount}。", "您这个地址是可以办理的，我先帮您登记，工作人员会提前电话联系您。",
                "我这边给您登记了，地址麻烦再确认一下，是[地址]对吗？", "提速的话每个月多加20块钱就可以，当天就能生效。"],
         mention=["对了，我家里宽带是不是也能一起办个优惠？", "还有，顺便问下宽带提速到千兆要多少钱？", "另外我家那个光猫是不是该换新的了？"],
         summary=["用户咨询家庭宽带新装及资费", "用户办理家庭宽带续费和提速"]),
    dict(id="product.roaming", short="国际漫游", name="国际漫游",
         description="用户出国或前往港澳台前咨询国际漫游的开通、境外流量包、漫游资费标准以及在境外能否正常通话上网。",
         keywords=["漫游", "出国", "境外", "国际", "港澳"],
         things=["国际漫游", "境外流量包", "在国外用的包", "出门在外用的那个包"],
         ask=["我下周要去{place}，需要开通国际漫游吗？", "出国的话有没有境外流量包，{place}能用吗？", "我想问一下在{place}打电话接电话怎么收费？",
              "我要出国出差半个月，手机要怎么设置才能用？", "漫游的流量包是按天算的吗？", "我下个月去{place}玩，在那边手机还能上网吗？",
              "我要带我妈去{place}旅游，她的号在那边能接电话吗？", "我马上坐飞机去{place}了，落地之后手机要不要弄什么？"],
         reply=["您的号码已经默认开通国际漫游，到{place}开机就能使用。", "{place}可以用境外流量包，有1天、3天和7天的，一天是25元不限量。",
                "在{place}接听是按分钟收费的，建议您订一个当地的包比较划算。", "可以的，落地之后打开数据开关就行，记得提前订个按天算的包。",
                "您去的地方是支持的，我这边帮您把包订上，落地自动生效。"],
         mention=["对了，我下个月还要去{place}，国际漫游要提前开吗？", "还有，境外流量包怎么订？", "另外我过段时间要出国，到时候再问你们。"],
         summary=["用户前往{place}前咨询国际漫游开通和境外流量包", "用户询问在{place}的漫游通话及上网资费"]),
    dict(id="product.billing", short="话费", name="话费充值与账单查询",
         description="用户查询话费余额、月度账单明细和充值缴费记录，或咨询充值未到账、欠费停机后如何缴费复机等问题。",
         keywords=["话费", "充值", "账单", "余额", "缴费", "欠费"],
         things=["话费", "这个号的月费", "每月的套餐费", "这个号"], services=["彩铃业务", "一个增值业务", "手机报"],
         ask=["我想查一下我现在话费余额还有多少。", "我上个月的账单能不能发一份明细给我？", "我刚充值了{amount}，怎么还没到账？",
              "我手机欠费停机了，缴费之后多久能恢复？", "我想问一下话费怎么充值比较方便。", "我想看看我这个号上还剩多少钱。",
              "上个月一共花了多少，能给我念一下吗？", "我刚才在网上交了{amount}，怎么手机还是打不出去？", "我这个号是不是没钱了，今天突然打不了电话了。"],
         reply=["我查了一下，您当前话费余额是{balance}元。", "您上个月账单是{amount}，其中套餐费是{fee}，其余是超出部分。",
                "充值一般几分钟到账，我看到您的缴费已经成功了，请您重启一下手机。", "我查到了，您{date}交的钱已经到了，现在可以正常使用。",
                "您这个号目前还剩{balance}元。", "明细在营业厅APP里就能看到，我也可以给您发一条短信。"],
         mention=["对了，能顺便帮我查一下话费余额吗？", "还有，账单能不能每个月发到我邮箱？", "哦对，我顺便充个值，是不是APP上就行？"],
         summary=["用户查询话费余额及上月账单明细", "用户反映充值{amount}后未到账，客服核实已到账"]),
    dict(id="product.family_line", short="副卡和亲情号", name="副卡与亲情号",
         description="用户办理或咨询副卡、亲情号、家庭成员共享流量和通话，涉及主卡副卡绑定以及添加或删除家庭成员号码。",
         keywords=["副卡", "亲情号", "家庭成员", "主卡", "亲情网"],
         things=["副卡", "亲情号", "家里人的副卡", "我老婆那个号"],
         ask=["我想给我老婆办一张副卡，共享我的流量。", "亲情号最多能加几个？我想把我爸妈加进来。", "我想把副卡取消掉，孩子已经不用了。",
              "我是主卡，想问一下副卡的通话分钟是不是共用的？", "家庭成员之间打电话是不是免费的？", "我想把我爸妈的号码挂到我这个号下面一起用，能弄吗？",
              "我闺女上大学了，想给她弄个号，用我这边的流量和分钟数。", "我们一家三口的号能不能绑在一起，互相打电话不要钱的那种？"],
         reply=["可以的，您的套餐最多可以办理3张副卡，每张每月10元。", "亲情号最多可以添加5个，互打免费，次月生效。",
                "副卡取消需要机主本人办理，我这边帮您提交。", "可以的，每个号每个月加10块钱，共享您的流量和分钟数。",
                "我这边帮您登记了，对方会收到一条确认短信，回复确认就可以了。", "可以办理的，办好以后你们一家人互相打电话不收费。"],
         mention=["对了，我老婆那张副卡能不能也办一下？", "还有，亲情号能不能再加一个？", "另外家里人的号以后想绑成亲情网，改天再弄。"],
         summary=["用户咨询副卡办理和共享规则", "用户申请添加亲情号"]),
    dict(id="product.video_vip", short="视频会员", name="视频会员权益包",
         description="用户咨询、领取或订购视频会员权益包，如套餐附赠或付费订购的爱奇艺、腾讯视频、优酷等视频会员权益。",
         keywords=["会员", "视频", "权益", "爱奇艺", "腾讯视频", "优酷"],
         things=["视频会员", "会员权益", "每个月送的那个会员", "看剧的那个包"],
         ask=["我套餐里送的视频会员怎么领取？", "我想订一个爱奇艺会员的权益包，多少钱一个月？", "腾讯视频会员能不能换成优酷的？",
              "我这个月的会员权益怎么还没到账？", "你们那个视频权益包包含哪几个平台？", "就是那个能看电视剧的，每个月送的那个，我怎么用不了？",
              "我想给我家孩子开个看动画片的，能从每月的费用里扣吗？", "听说你们有那种每个月送追剧的，我想弄一个。", "你们那个看剧的包，能不能换个平台用？"],
         reply=["您的套餐每月可以领取一个视频会员，在APP权益中心领取就行。", "视频会员权益包是每月15元，可以在爱奇艺、腾讯视频、优酷中任选一个。",
                "我查了，本月权益已经发放，激活码会通过短信发给您。", "每个月15块钱，几个常见的追剧平台可以选一个，次月可以换。",
                "我这边查了，这个月的已经发到您手机上了，短信里有领取方式。"],
         mention=["对了，我套餐里送的视频会员怎么领？", "还有，那个爱奇艺会员能不能换腾讯视频？", "另外会员权益那个我回头自己在APP上看吧。"],
         summary=["用户咨询视频会员权益的领取方式", "用户订购视频会员权益包并咨询可选平台"]),
    dict(id="product.port_out", short="携号转网", name="携号转网",
         description="用户咨询携号转网的办理条件、授权码获取、合约期或欠费限制，以及转网前需要先解除的业务。",
         keywords=["携号转网", "转网", "授权码", "转出", "换运营商"],
         things=["携号转网", "转网", "这个号", "这个号码"],
         ask=["我想办携号转网，需要什么条件？", "转网授权码怎么获取？", "我想转到别的运营商，号码不变，可以吗？",
              "为什么我查询不能转网，提示有合约？", "我要携号转网，你们这边要先解除什么业务？", "我不想用你们家了，号码能不能带走？",
              "我单位统一用别家的，我这个号想过去，号别变就行。", "我想换家公司用，这号码用了十几年了舍不得换。"],
         reply=["携号转网需要号码在网满120天，并且没有欠费和合约，您可以发短信查询。", "您这个号码还有合约在身，{date}到期，到期后才能办理转网。",
                "可以的，不过您这个号目前还有一个优惠活动没到期，需要先取消才可以。", "我这边先帮您看看条件，您的号码目前是符合条件的，可以去营业厅办理。",
                "我们也想尽量留住您，我这边可以给您申请一个老用户的优惠，您考虑一下？"],
         mention=["对了，我要是携号转网的话有什么限制吗？", "说实话，再这样我都想转网了。", "另外我之前问过转网授权码，这个先不管了。"],
         summary=["用户咨询携号转网的办理条件", "用户要求转网，客服进行挽留并说明条件"]),
]

# -------------------------------------------------------------------------------------------- complaints
# products: the products the complaint occurs with; say: customer complaints; reply: agent answers.
COMPLAINTS = [
    dict(id="complaint.data_overcharge", name="流量扣费异常",
         products=["product.5g_plan", "product.data_pack", "product.billing", "product.video_vip"],
         description="用户投诉流量被多扣、流量使用量与实际不符或超出套餐流量后被高额扣费，要求核查流量使用明细并退还多收费用。",
         keywords=["流量扣费", "多扣", "超出流量", "流量费", "扣了流量"],
         say=["我{date}收到短信说我超出流量了，扣了我{amount}，我根本没用那么多。", "你们这个流量费怎么算的？我套餐里明明还有{gb}，怎么又多扣了钱？",
              "我手机一直连着家里的网，怎么还扣了流量，扣了{amount}。", "这个月流量扣费不对，套餐里的还没用完就开始按量收了。",
              "我晚上睡觉手机都没动，早上起来说我用了{gb}，这不可能吧。", "我一个月上网根本用不完，{date}不知道怎么回事少了{amount}。",
              "明明显示还剩好几个G，怎么就开始按兆收钱了？", "我上网用的量跟你们记的对不上，你们记的比我实际用的多了一大截。"],
         reply=["我这边看到您{date}确实产生了{amount}的流量费，是超出套餐后的按量计费。", "我看了一下使用明细，{date}凌晨有后台应用在使用流量。",
                "您反映的情况我已经记录，提交了核查工单，核实是计费问题的话会给您退回。", "非常抱歉，我帮您申请核查，单号是[订单编号]，三个工作日内给您答复。",
                "我这边查到的使用记录确实比较大，可能是手机后台在自动更新，建议您关一下自动更新。"],
         summary=["用户反映{date}流量被多扣费{amount}，要求核查退费", "用户质疑流量使用量与实际不符，要求核查"]),
    dict(id="complaint.bill_dispute", name="话费账单争议",
         products=["product.billing", "product.5g_plan", "product.family_line", "product.broadband",
                   "product.port_out", "product.video_vip"],
         description="用户对话费账单金额有异议，认为存在乱收费、不明扣费或收费与办理时的承诺不符，要求解释账单明细并退还费用。",
         keywords=["账单", "乱收费", "不明扣费", "收费不对", "退费"],
         say=["我这个月账单怎么比平时多了{amount}？你们是不是乱收费？", "我{date}的账单里有一项费用我看不懂，这是什么钱？",
              "当时办{thing}的时候说好了每个月{fee}，结果账单扣了更多。", "我要求退费，这些不明扣费我都没同意过。", "你们收费不对，{thing}的钱怎么扣了两遍？",
              "当初说好的价格跟现在扣的钱不一样，差了{amount}呢。", "我每个月都是固定那么多，这个月突然多出来一截，你给我解释解释。",
              "我算了一下，这个月多收了我{amount}，这钱得还给我。"],
         reply=["我看了一下账单明细，多出来的{amount}是{date}产生的一笔费用。", "非常抱歉，我这边帮您申请退费，款项会在3到5个工作日内退回。",
                "您说的这笔费用我查了，确实是系统重复收取，我马上帮您申请返还。", "我给您逐项念一下，套餐费{fee}，其余{amount}是超出部分。",
                "这个情况我记下了，给您提交了核查单，单号[订单编号]，有结果会给您回电。"],
         summary=["用户对本月账单多出{amount}有异议，要求解释并退费", "用户反映{product}的费用重复收取，要求退还"]),
    dict(id="complaint.network_slow", name="网速慢信号差",
         products=["product.5g_plan", "product.data_pack", "product.broadband", "product.roaming"],
         description="用户投诉手机或宽带网速慢、信号差、经常掉线或没有信号，影响正常通话和上网，要求排查网络问题。",
         keywords=["网速慢", "信号差", "没信号", "卡顿", "掉线"],
         say=["我{spot}手机信号差得很，打电话老是掉线。", "办了{thing}以后网速慢得不行，还不如以前。", "我在小区里经常没信号，{spot}就更别说了。",
              "刷个短视频都卡顿得厉害，你们网络是不是有问题？", "我在{spot}网速慢得要命，根本用不了。", "打电话说两句对面就听不见了，一天要断好几回。",
              "一到晚上打开个网页都要转半天，我交那么多钱图啥。", "在{spot}手机右上角那个格子一格都没有，急事都耽误了。"],
         reply=["非常抱歉，我帮您提交网络问题工单，网优工程师会在48小时内联系您。", "我这边查到您所在区域{date}有基站在维护，目前已经恢复了。",
                "建议您先重启一下手机，或者把网络模式切换一下试试。", "我记录一下，您常待的位置是{spot}对吧？会有工程师去现场测试。",
                "麻烦您说一下具体在哪个位置、什么时间段最明显，我帮您登记。"],
         summary=["用户反映{spot}信号差、网速慢，影响通话上网", "用户反映办理{product}后网速变慢"]),
    dict(id="complaint.broadband_unrepaired", name="宽带故障未修复", products=["product.broadband"],
         description="用户投诉家庭宽带出现故障后报修多次仍未修复，维修人员迟迟不上门或修完仍然断网，要求尽快处理。",
         keywords=["宽带故障", "报修", "没人来修", "断网", "维修"],
         say=["我家宽带断网{days}了，报修了好几次都没人来修。", "上次报修的人来看了一下就走了，现在还是不能上网。",
              "宽带故障到现在都没修好，{symptom}，你们到底管不管？", "我{date}就报修了，说24小时上门，现在{days}了还没人来。",
              "维修的人一直说在路上，到现在都没见着人。", "家里的网{days}没法用了，{symptom}，打了几次电话都说有人联系我，结果没人。",
              "上门的那个人弄了半天说好了，他一走又不行了。", "孩子在家上网课，现在根本上不了，{days}了你们也不派人来看看。"],
         reply=["非常抱歉，我看到您{date}的报修单还没有处理，我马上帮您催单。", "我这边给您加急处理，装维人员会在今天下午联系您上门。",
                "我远程检测了一下，您的线路确实有异常，需要上门处理。", "实在不好意思让您等这么久，我已经升级处理了，单号是[订单编号]。",
                "我这边给您备注了加急，今天之内一定会有人跟您联系。"],
         summary=["用户反映家庭宽带故障报修{days}仍未修复", "用户反映宽带维修后仍无法上网"]),
    dict(id="complaint.roaming_fee", name="漫游费用过高", products=["product.roaming", "product.billing"],
         description="用户投诉在境外使用手机后产生高额漫游费和境外流量费，认为收费过高或事先未被提醒，要求减免或退还部分费用。",
         keywords=["漫游费", "天价", "境外流量", "太贵", "费用过高"],
         say=["我去{place}才几天，回来收到{amount}的漫游费，这也太贵了吧。", "境外流量怎么这么贵，我就刷了一会儿手机扣了{amount}。",
              "你们这个漫游费简直是天价，出去前也没人提醒我。", "在{place}用了几天手机，费用过高了，我要求减免。",
              "我就去{place}待了{days}，回来一看少了{amount}，这也太离谱了。", "在那边接了几个电话、看了会儿地图，回来发现扣了一大笔钱。",
              "出门前也没人跟我说在外面上网这么烧钱，一条提醒都没有。"],
         reply=["我查了一下，您在{place}期间产生了{amount}的漫游费用，主要是境外流量。", "非常抱歉，考虑到您是首次出行，我帮您申请减免一部分，结果三个工作日内短信通知。",
                "我这边看到您在那边没有订按天的包，所以是按量计费的，我帮您申请一下看能不能调整。", "我理解您的心情，给您提交一个减免申请，单号[订单编号]。"],
         summary=["用户反映在{place}产生{amount}漫游费用过高，要求减免", "用户投诉出行前未收到漫游资费提醒，产生高额费用"]),
    dict(id="complaint.plan_change_failed", name="套餐变更未生效",
         products=["product.5g_plan", "product.family_line", "product.video_vip", "product.broadband"],
         description="用户投诉已办理的套餐变更、业务变更或新增副卡等没有按时生效，仍按原套餐扣费，要求核实处理并补偿差价。",
         keywords=["没生效", "未生效", "还是原来的", "变更失败", "没改过来"],
         say=["我{date}就改了{thing}，怎么到现在还没生效？", "我上个月就办了，这个月扣费还是原来的套餐。", "客服说下个月1号生效，结果都{date}了还是没改过来。",
              "你们系统是不是变更失败了，我查了还是老的。", "营业厅说给我办好了，可我这个月扣的钱还是按老的收的。",
              "上个月打电话说好的改成{fee}的，现在扣的钱一点没变。", "我办的那个东西到现在都没开始算，你们那边到底弄了没有？"],
         reply=["我查了一下，您{date}的变更申请确实没有执行成功，我重新帮您提交。", "非常抱歉，系统显示您的变更还在处理中，我帮您加急。",
                "我看到您申请的是次月生效，这个月确实还是按原来的计费。", "实在抱歉，是我们这边处理不及时，我给您重新办理，差价会退给您。",
                "我核实了，确实漏办了，现在已经给您补上了，立即生效。"],
         summary=["用户反映{date}办理的{product}变更未生效，仍按原资费扣费", "用户反映业务变更后迟迟没有生效"]),
    dict(id="complaint.wrong_subscription", name="业务被误订购",
         products=["product.video_vip", "product.data_pack", "product.billing", "product.5g_plan"],
         description="用户投诉自己没有订购的增值业务、会员或流量包被私自开通并扣费，要求退订并退还已扣除的费用。",
         keywords=["没订过", "误订购", "莫名其妙", "退订", "私自开通"],
         say=["我根本没订过{service}，怎么每个月扣我{amount}？", "你们是不是私自开通业务了？我从来没同意过。", "我要退订，这个{service}莫名其妙就开了。",
              "我手机上多了一个{service}，我肯定没订过，是不是误订购？", "我妈手机上多出来一个每月{amount}的东西，她老人家根本不会弄这些。",
              "我啥也没办过，每个月固定少{amount}，一查才知道被开了个东西。", "谁给我开的这个？我从来没点过什么确认，你们得给我取消掉。",
              "一直在扣一个我不认识的钱，我要把它关掉，之前扣的也要还我。"],
         reply=["我查到了，这个业务是{date}通过短信渠道开通的，我马上帮您退订。", "非常抱歉，已经帮您退订了，之前扣的{amount}会给您退回。",
                "我这边帮您取消了，次月开始不再收取，之前的费用我帮您申请返还。", "这个是{date}开的，开通记录我核实一下，如果不是您本人操作会全额退还。"],
         summary=["用户反映{product}相关的一项未订购业务被开通并扣费{amount}，要求退订退费", "用户称从未办理过某项业务却被扣费"]),
    dict(id="complaint.bad_service", name="服务态度差", products=[p["id"] for p in PRODUCTS],
         description="用户投诉客服人员或营业厅工作人员服务态度差、不耐烦、互相推诿或中途挂电话，问题长期得不到解决。",
         keywords=["态度差", "投诉", "不耐烦", "挂电话", "推诿"],
         say=["我要投诉你们上次那个客服，态度差得很。", "我问了两句她就不耐烦了，直接挂电话。", "营业厅的人互相推诿，让我打这个电话，打电话又让我去营业厅。",
              "我就问个{thing}的事，前面那个客服态度很差，说话特别冲。", "上回你们接电话那个人，我话还没说完就给我撂了。",
              "去了营业厅三趟，每次都让我找别人，没一个人管。", "说话阴阳怪气的，我是来办事的不是来受气的。",
              "同样一个事我打了四五次电话，每个人说的都不一样，我真的很生气。"],
         reply=["非常抱歉给您带来不好的体验，您反映的情况我会如实记录并反馈。", "真的很抱歉，我把您的意见记录下来，会有专人在24小时内回访您。",
                "您先消消气，您刚才说的{thing}的问题我现在就帮您处理。", "对于之前同事的服务我向您道歉，我这边登记了，单号[订单编号]。"],
         summary=["用户投诉此前客服服务态度差、中途挂断电话", "用户反映营业厅和客服互相推诿，问题一直未解决"]),
]
NO_COMPLAINT = dict(id="complaint.none", name="无投诉", keywords=[],
                    description="通话中用户只是咨询或办理业务，没有表达任何不满或投诉，这通电话不包含投诉，属于正常的业务咨询与办理。")

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
NEUTRAL = "嗯，是这样的。"

# ---------------------------------------------------------------------------------------------- slots
SLOTS = dict(amount=["38元", "59元", "120元", "268元", "500多块", "九十多块", "15元", "一百八十多"],
             date=["上个月15号", "这个月初", "上周三", "前天", "昨天晚上", "月底那几天", "3号"],
             gb=["10G", "20G", "30G", "40G", "3G", "8G"], place=["泰国", "日本", "韩国", "新加坡", "美国", "欧洲", "马来西亚", "澳大利亚"],
             spot=["在家里", "在公司", "在小区地下车库", "在老家", "在地铁上", "在电梯里"], days=["三天", "一个星期", "好几天", "五天", "两天"],
             fee=["129元", "169元", "199元", "239元"],
             symptom=["光猫一直亮红灯", "网页根本打不开", "一会儿有网一会儿没网", "WiFi能连上但上不了网", "路由器灯一直在闪"])
PLANS = [("畅享5G套餐129元", 129, "国内通用流量30G，定向流量30G"), ("畅享5G套餐169元", 169, "国内通用流量40G，定向流量60G"),
         ("5G智享套餐239元", 239, "国内通用流量80G，定向流量100G"), ("4G飞享套餐58元", 58, "国内通用流量10G"),
         ("4G飞享套餐38元", 38, "国内通用流量3G，定向流量10G"), ("校园学霸套餐", 39, "国内通用流量20G，校园定向流量50G"),
         ("全家享融合套餐199元", 199, "国内通用流量60G，含千兆宽带，可加3张副卡"), ("冰激凌套餐99元", 99, "国内通用流量30G，定向流量50G"),
         ("老年关怀套餐8元", 8, "国内通用流量500M，含100分钟通话")]
ACTIONS = ["客服已提交工单", "客服已登记并承诺尽快回复", "客服已致歉并加急处理", "客服已提交核查申请"]
ENQUIRY_ACTIONS = ["客服已介绍办理方式", "客服已为其办理", "客服已解答，用户表示再考虑"]

MINUTE_MS, DAY_MS = 60_000, 86_400_000


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


def _summary(rng: random.Random, product: dict, complaint: dict | None, slots: dict) -> str:
    slots = dict(slots, product=product["short"])
    if complaint is None:
        return rng.choice(product["summary"]).format(**slots) + "，" + rng.choice(ENQUIRY_ACTIONS) + "。"
    return rng.choice(complaint["summary"]).format(**slots) + "，" + rng.choice(ACTIONS) + "。"


def random_account(rng: random.Random, user_id: str, start_ms: int) -> dict:
    """A plausible telecom account (the public dialogue data has none, so training generates them too)."""
    name, fee, allowance = rng.choice(PLANS)
    balance = rng.uniform(-35.5, 0) if rng.random() < 0.1 else rng.uniform(0, 300)
    return dict(user_id=user_id, balance_yuan=round(balance, 2), plan_name=name, plan_fee_yuan=fee,
                data_allowance=allowance, updated_at=max(0, start_ms - rng.randint(1, 30 * DAY_MS)))


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


def write_sample(out_dir: Path, calls: int = 300, seed: int = 7, start_ms: int = 1_767_225_600_000,
                 human_label_fraction: float = 0.2, calls_per_minute: float = 30.0) -> dict[str, int]:
    """Write catalog, accounts, transcript, human_labels and truth JSONL files into out_dir; return line counts."""
    if calls < 0 or calls_per_minute <= 0 or not 0 <= human_label_fraction <= 1:
        raise ValueError("calls >= 0, calls_per_minute > 0 and 0 <= human_label_fraction <= 1 required")
    rng = random.Random(seed)
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
    return {"catalog.jsonl": _write(out_dir / "catalog.jsonl", catalog),
            "accounts.jsonl": _write(out_dir / "accounts.jsonl", [a for u, a in accounts.items() if u not in unknown]),
            "transcript.jsonl": _write(out_dir / "transcript.jsonl", events),
            "human_labels.jsonl": _write(out_dir / "human_labels.jsonl", human),
            "truth.jsonl": _write(out_dir / "truth.jsonl", truth)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m streams.sample", description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start-ms", type=int, default=1_767_225_600_000)
    parser.add_argument("--human-label-fraction", type=float, default=0.2)
    parser.add_argument("--calls-per-minute", type=float, default=30.0)
    args = parser.parse_args(argv)
    counts = write_sample(args.out_dir, args.calls, args.seed, args.start_ms, args.human_label_fraction,
                          args.calls_per_minute)
    print(json.dumps(counts, ensure_ascii=False))


if __name__ == "__main__":
    main()

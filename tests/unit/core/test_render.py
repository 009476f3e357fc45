from streams.core.render import Template, normalise_text, render, render_context, render_label

ACCOUNT = {"balance_yuan": 20, "plan_name": "校园学霸套餐", "plan_fee_yuan": 29, "data_allowance": "国内通用流量30G，定向流量50G"}
TURNS = [{"speaker": "customer", "text": "你好，我的套餐流量不够用，有没有更大的流量套餐"}, {"speaker": "agent", "text": "有的，我帮您查一下"}]


def test_golden_product_text():
    assert render(TURNS, ACCOUNT, "product") == (
        "当前用户的话费余额为(20元)，使用套餐为(校园学霸套餐)，套餐资费为(29元每月)，包含流量(国内通用流量30G,定向流量50G)，"
        "当前对话内容为(用户：你好,我的套餐流量不够用,有没有更大的流量套餐。客服：有的,我帮您查一下。)。当前对话属于什么产品？")


def test_golden_complaint_text_with_unknown_account():
    assert render(TURNS[:1], None, "complaint") == (
        "当前用户的话费余额为(未知)，使用套餐为(未知)，套餐资费为(未知)，包含流量(未知)，"
        "当前对话内容为(用户：你好,我的套餐流量不够用,有没有更大的流量套餐。)。当前对话的投诉内容是什么？")


def test_long_dialogue_keeps_head_and_tail_within_budget():
    turns = [{"speaker": "customer", "text": "开头" + "啊" * 500 + "结尾"}]
    context = render_context(turns, ACCOUNT, Template(max_dialogue_chars=100))
    dialogue = context.split("当前对话内容为(")[1][:-2]
    assert len(dialogue) == 100 and dialogue.startswith("用户：开头") and dialogue.endswith("结尾。") and "…" in dialogue


def test_label_text():
    assert render_label({"name": "流量加油包", "description": "临时流量"}) == "流量加油包：临时流量"
    assert render_label({"name": "无投诉", "description": ""}) == "无投诉"


def test_training_text_is_normalised_as_the_edge_normalises_served_text():
    """Training data keeps full-width punctuation and stray format characters; the worker's inputs are NFKC-normalised
    at the edge. Rendering normalises every variable part, so both reach the model as the same text."""
    raw = [{"speaker": "customer", "text": "我的流量\u200b不够用，能不能加个包？ＡＢ１２\x07"}]
    served = [{"speaker": "customer", "text": normalise_text(raw[0]["text"])}]
    account = {**ACCOUNT, "data_allowance": "国内通用流量３０Ｇ，定向流量50G"}
    for task in ("product", "complaint"):
        assert render(raw, account, task) == render(served, {**account, "data_allowance": normalise_text(account["data_allowance"])}, task)
    assert "用户：我的流量不够用,能不能加个包?AB12。)" in render(raw, account, "product")
    assert render_label({"name": "流量　加油包", "description": "临时流量（当月）"}) == "流量 加油包：临时流量(当月)"

"""Pure parts of the stages: span masking, gradient agreement, the late-human-label rule, stage wiring."""
import random

import torch

from training.build import STAGES, TYPICAL_SECONDS, eta, stage_args
from training.retrain import training_records
from training.stages.pretrain import MASK, mask_spans
from training.stages.transfer import agreement_params, cosine_summary, gradient_cosine


def test_mask_spans_restores_the_text():
    text = "当前用户反映流量套餐不够用，希望办理更大的套餐。"
    source, target = mask_spans(text, random.Random(0), 0.15)
    assert MASK in source and target.startswith(MASK)
    spans = target.split(MASK)[1:]
    restored = source
    for span in spans:
        restored = restored.replace(MASK, span, 1)
    assert restored == text
    assert 0 < sum(map(len, spans)) <= len(text) * 0.15 + 5


def test_gradient_cosine_is_the_cosine_of_the_concatenated_gradients():
    a, b, c = (torch.nn.Parameter(torch.ones(n)) for n in (2, 3, 1))
    first = {id(a): torch.tensor([1.0, 2.0]), id(b): torch.tensor([0.0, 1.0, -1.0])}  # c had no fine gradient
    a.grad, b.grad, c.grad = torch.tensor([2.0, -1.0]), torch.tensor([1.0, 1.0, 1.0]), torch.tensor([3.0])
    flat_first, flat_second = torch.tensor([1.0, 2.0, 0.0, 1.0, -1.0, 0.0]), torch.tensor([2.0, -1.0, 1.0, 1.0, 1.0, 3.0])
    expected = torch.nn.functional.cosine_similarity(flat_first, flat_second, dim=0).item()
    assert abs(gradient_cosine(first, [a, b, c]) - expected) < 1e-6
    assert abs(gradient_cosine(first, [a]) - 0.0) < 1e-6  # (1,2)·(2,-1) = 0


def test_gradient_agreement_leaves_out_the_embedding_tables():
    from transformers import BertConfig, BertModel

    bert = BertModel(BertConfig(vocab_size=30, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16))
    names = {id(p): n for n, p in bert.named_parameters()}
    compared = [names[id(p)] for p in agreement_params(bert, "transformer")]
    assert compared and not any("embeddings" in n for n in compared)
    assert len(agreement_params(bert, "all")) == len(list(bert.parameters()))
    summary = cosine_summary([-0.5, 0.1, 0.2, 0.3])
    assert summary["n"] == 4 and summary["positive_share"] == 0.75 and summary["p50"] == 0.15


def test_the_demo_profile_fine_tunes_the_set_up_model_on_the_sample(tmp_path):
    from training.build import DEMO_STAGES

    args = stage_args(tmp_path / "m", tmp_path / "sample", "demo")
    assert DEMO_STAGES == ("setup", "finetune")
    assert f"--init-dir={tmp_path / 'm' / 'setup'}" in args["finetune"] and "--csds=" in args["finetune"]
    assert not any(a.startswith("--base=") for a in args["setup"])  # the default base: bge


def test_the_build_eta_sums_the_stages_left_at_this_builds_pace():
    assert set(TYPICAL_SECONDS["default"]) == set(STAGES)
    assert eta("default", STAGES, 0.0, ()) == f"about {round(sum(TYPICAL_SECONDS['default'].values()) / 60)} min left"
    done = ("setup", "pretrain", "transfer")
    slow = 2 * sum(TYPICAL_SECONDS["default"][s] for s in done)  # a machine twice as slow so far
    assert eta("default", ("finetune",), slow, done) == f"about {round(2 * TYPICAL_SECONDS['default']['finetune'] / 60)} min left"


def test_late_human_label_moves_a_call_from_pseudo_to_fine_data():
    pseudo = [{"call_id": "c1", "context_text": "ctx1", "summary": "s1"}, {"call_id": "c2", "context_text": "ctx2", "summary": "s2"},
              {"call_id": "c1", "context_text": "ctx1", "summary": "s1"}]  # redelivered
    human = [{"call_id": "c2", "labels": {"product": "p.a", "complaint": "c.b"}, "summary": "用户投诉扣费。"}]
    fine, rest = training_records(pseudo, human, {"p.a": "流量包", "c.b": "扣费争议"})
    assert [r["call_id"] for r in rest] == ["c1"]
    assert fine == [{"context_text": "ctx2", "target": "流量包、扣费争议：用户投诉扣费。"}]


def test_each_stage_reads_what_the_one_before_wrote(tmp_path):
    sample = tmp_path / "sample"
    sample.mkdir()
    (sample / "transcript.jsonl").write_text('{"type": "segment", "text": "你好"}\n', encoding="utf-8")
    args = stage_args(tmp_path / "m", sample, "quick")
    assert list(args) == list(STAGES)
    for before, stage in zip(STAGES, STAGES[1:]):
        out = next(a for a in args[before] if a.startswith("--out-dir="))
        assert f"--init-dir={out.split('=', 1)[1]}" in args[stage]
    assert (tmp_path / "m" / "sample-text.txt").read_text(encoding="utf-8") == "你好"


def test_topic_summaries_add_examples_from_the_train_split_only(tmp_path):
    import json
    import re
    from types import SimpleNamespace

    from streams.render import DEFAULT_TEMPLATE
    from training.data import read_csds, split_csds
    from training.stages.finetune import FinetuneConfig, sources

    topics = [f"主题{i}" for i in range(20)]
    rows = [{"id": f"d{i}", "turns": [{"speaker": "user", "text": f"问{topics[i % 20]}"}], "labels": [topics[i % 20]],
             "topic_summaries": [{"topic": topics[i % 20], "summary": f"摘要{i:03d}号"}]} for i in range(100)]
    csds = tmp_path / "csds.jsonl"
    csds.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    model = SimpleNamespace(template=DEFAULT_TEMPLATE)
    splits = split_csds(read_csds(csds))
    train, valid, _ = sources(FinetuneConfig(sample_dir="", csds=str(csds), products=""), model)
    summarised = {(m.group(0), e.labels) for e in train["csds"] if (m := re.search(r"摘要\d{3}号", e.text))}
    assert summarised == {(f"摘要{int(d.id[1:]):03d}号", d.labels) for d in splits["train"]}
    assert len(train["csds"]) == 2 * len(splits["train"]) and len(valid["csds"]) == len(splits["valid"])
    without = sources(FinetuneConfig(sample_dir="", csds=str(csds), products="", topic_summaries=False), model)[0]
    assert len(without["csds"]) == len(splits["train"])


def test_a_stage_resumes_only_from_the_same_config_and_start_model(tmp_path):
    from dataclasses import dataclass

    from training.loop import optimizer_for, run

    @dataclass(frozen=True)
    class Config:
        init_dir: str
        steps: int = 4
        eval_every: int = 2
        patience: int = 10
        lr: float = 1e-2
        weight_decay: float = 0.0

    init = tmp_path / "init"
    init.mkdir()
    (init / "weights").write_bytes(b"a")

    def stage(config):
        model = torch.nn.Linear(2, 1)
        optimizer, schedule = optimizer_for(model, config)
        steps = []
        run("t", config, model, optimizer, schedule, tmp_path / "work", lambda step: steps.append(step) or {}, lambda: 0.0,
            lambda: None)
        return steps

    assert stage(Config(str(init))) == [1, 2, 3, 4]
    assert stage(Config(str(init))) == []  # finished: resumed at its last step
    (init / "weights").write_bytes(b"b")  # the stage before was run again
    assert stage(Config(str(init))) == [1, 2, 3, 4]
    assert stage(Config(str(init), steps=6)) == [1, 2, 3, 4, 5, 6]  # another config

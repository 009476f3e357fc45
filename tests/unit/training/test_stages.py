"""Pure parts of the stages: span masking, gradient agreement, the late-human-label rule, stage wiring."""
import random

import torch

from streams.core.records import HumanLabel, PseudoLabel
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
    def pseudo_label(call_id):
        return PseudoLabel(idempotency_key=f"{call_id}:p", call_id=call_id, user_id="u", context_text=f"ctx{call_id[-1]}",
                           summary_sentences=["s"], summary="s", template_version="t", produced_at=0)

    pseudo = [pseudo_label("c1"), pseudo_label("c2"), pseudo_label("c1")]  # redelivered
    human = [HumanLabel(call_id="c2", labels={"product": "p.a", "complaint": "c.b"}, summary="用户投诉扣费。", event_time=0),
             HumanLabel(call_id="c1", summary="只有摘要", event_time=0)]  # no labels: stays pseudo data
    fine, rest = training_records(pseudo, human, {"p.a": "流量包", "c.b": "扣费争议"})
    assert [r.call_id for r in rest] == ["c1"]
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

    from streams.core.render import DEFAULT_TEMPLATE
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


def test_every_stage_config_keeps_its_defaults():
    from dataclasses import asdict

    from training.data import SHARED_DATA
    from training.stages.finetune import FinetuneConfig
    from training.stages.pretrain import PretrainConfig
    from training.stages.setup import SetupConfig
    from training.stages.transfer import TransferConfig

    loop = {"weight_decay": 0.01, "bf16": True, "seed": 13, "threads": 2}  # the same in every trained stage
    assert asdict(SetupConfig()) == {
        "out_dir": ".callqa/models/setup", "base": "bge", "pretrained_cache": ".callqa/pretrained", "decoder_layers": 4,
        "warm_decoder": True, "generate_tokens": 1, "max_length": 512, "projection_dims": (512, 256), "vocab": "",
        "vocab_texts": "", "hidden_size": 64, "num_layers": 2, "num_heads": 4, "intermediate_size": 128,
        "cross_attention_gain": 10.0, "seed": 13}
    assert asdict(PretrainConfig()) == {
        "init_dir": ".callqa/models/setup", "out_dir": ".callqa/models/pretrained",
        "text": str(SHARED_DATA / "pretrain_zh_mixed.txt"), "products": str(SHARED_DATA / "online_shopping_train.jsonl"),
        "max_lines": 60000, "max_source_chars": 120, "max_target_tokens": 32, "mask_share": 0.15,
        "task_weights": (0.6, 0.25, 0.15), "steps": 150, "batch_size": 16, "lr": 2e-4, "eval_every": 50,
        "patience": 100, "valid_size": 48, **loop}
    assert asdict(TransferConfig()) == {
        "init_dir": ".callqa/models/pretrained", "out_dir": ".callqa/models/transferred", "mode": "agree",
        "csds": str(SHARED_DATA / "csds_topic_train.jsonl"), "unlabelled": str(SHARED_DATA / "stc3_helpdesk_train_cn.json"),
        "sample_dir": ".callqa/sample/train", "pseudo_file": "", "fine_file": "", "max_pseudo": 4000,
        "summary_sentences": 2, "max_target_tokens": 48, "agreement_on": "transformer", "steps": 60, "batch_size": 6,
        "lr": 5e-5, "eval_every": 30, "patience": 100, **loop}
    assert asdict(FinetuneConfig()) == {
        "init_dir": ".callqa/models/transferred", "out_dir": ".callqa/models/default", "sample_dir": ".callqa/sample/train",
        "csds": str(SHARED_DATA / "csds_topic_train.jsonl"), "products": str(SHARED_DATA / "online_shopping_train.jsonl"),
        "source_weights": (0.15, 0.45, 0.4), "max_products": 20000, "topic_summaries": True, "steps": 450,
        "batch_size": 16, "lr": 3e-5, "head_lr": 1e-3, "scale": 20.0, "pool_from": "", "valid_share": 0.15,
        "valid_per_source": 150, "eval_every": 75, "patience": 3, **loop}


def test_override_sets_shared_and_stage_fields_alike():
    import pytest

    from training.config import TrainConfig, override
    from training.stages.finetune import FinetuneConfig
    from training.stages.pretrain import PretrainConfig
    from training.stages.transfer import TransferConfig

    for stage in (PretrainConfig, TransferConfig, FinetuneConfig):
        config = override(stage(), ["--threads=4", "--bf16=false", "--weight-decay=0.1", "--steps=7", "--init-dir=x"])
        assert isinstance(config, TrainConfig) and type(config) is stage
        assert (config.threads, config.bf16, config.weight_decay, config.steps, config.init_dir) == (4, False, 0.1, 7, "x")
        with pytest.raises(ValueError, match="known: .*threads"):  # the shared keys are listed with the stage's
            override(stage(), ["--nope=1"])
    config = override(TransferConfig(), ["--mode=mix", "--max-target-tokens=8"])
    assert (config.mode, config.max_target_tokens, config.steps) == ("mix", 8, 60)


def test_descend_runs_the_combine_hook_between_backward_and_clipping():
    from training.loop import descend

    model = torch.nn.Linear(2, 1, bias=False)
    torch.nn.init.zeros_(model.weight)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    seen = []

    def combine():
        seen.append(model.weight.grad.clone())  # the loss's own gradient
        model.weight.grad = torch.tensor([[30.0, 40.0]])  # replaced; clipped to norm 1 before the step

    loss = (model(torch.tensor([[1.0, 2.0]])) - 1.0).pow(2).sum()
    assert descend(loss, model, optimizer, schedule, combine) == 1.0
    torch.testing.assert_close(seen[0], torch.tensor([[-2.0, -4.0]]))
    torch.testing.assert_close(model.weight.detach(), torch.tensor([[-0.6, -0.8]]))

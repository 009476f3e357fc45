"""Pure parts of the stages: span masking, gradient agreement, the late-human-label rule, stage wiring."""
import random

import torch

from training.build import STAGES, stage_args
from training.retrain import training_records
from training.stages.pretrain import MASK, mask_spans
from training.stages.transfer import flat_grad


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


def test_flat_grad_covers_parameters_without_gradients():
    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(3))
    a.grad = torch.tensor([1.0, 2.0])
    assert flat_grad([a, b]).tolist() == [1.0, 2.0, 0.0, 0.0, 0.0]


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
    args = stage_args(tmp_path / "m", sample, quick=True)
    assert list(args) == list(STAGES)
    for before, stage in zip(STAGES, STAGES[1:]):
        out = next(a for a in args[before] if a.startswith("--out-dir="))
        assert f"--init-dir={out.split('=', 1)[1]}" in args[stage]
    assert (tmp_path / "m" / "sample-text.txt").read_text(encoding="utf-8") == "你好"

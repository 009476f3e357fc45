"""`callqa retrain`: the loop from the pipeline back to Triton. Reads the pseudo-label topic (and the human-label
topic) from the job's own committed offsets, runs domain transfer then the matching fine-tune from the model in
service, compares both on the fixed validation splits, and only when the new one is not worse exports it as the next
version and has Triton load it. A failed or worse run changes nothing: no export, no offsets committed."""
from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from streams.core.codec import decode, encode
from streams.core.errors import DecodeError
from streams.core.kafka import kafka_config
from streams.core.records import HumanLabel, PseudoLabel, Record
from streams.core.settings import Settings
from training.build import build_all
from training.loop import write_report

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetrainConfig:
    models: str = ".callqa/models"  # `default` in it is the model in service; `previous` keeps the one before
    sample_dir: str = ".callqa/sample/train"
    group: str = "callqa-retrain"
    tolerance: float = 0.0  # how far below the model in service the new one may score and still be promoted
    quick: bool = False  # the tiny test profile
    max_records: int = 50000


def read_new(settings: Settings, event: str, group: str, max_records: int) -> tuple[list[Record], list]:
    """Records of the event's topic after the group's committed offsets, up to the end offsets seen at the start;
    returns them with the offsets to commit once they have been used."""
    from confluent_kafka import Consumer, TopicPartition

    topic = settings.topic(event)
    consumer = Consumer({**kafka_config(settings), "group.id": group, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest"})
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        assigned = [TopicPartition(topic, p) for p in partitions]
        ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=30)[1] for tp in assigned}
        committed = {tp.partition: tp.offset for tp in consumer.committed(assigned, timeout=30)}
        todo = {p: end for p, end in ends.items() if end > max(committed[p], 0)}
        consumer.assign([TopicPartition(topic, p, committed[p] if committed[p] >= 0 else 0) for p in todo])
        records, positions = [], dict(committed)
        while todo and len(records) < max_records:
            message = consumer.poll(1.0)
            if message is None or message.error():
                continue
            positions[message.partition()] = message.offset() + 1
            if message.offset() + 1 >= todo.get(message.partition(), 0):
                todo.pop(message.partition(), None)
            try:
                records.append(decode(message.value(), event))
            except DecodeError as exc:  # the pipeline wrote it, so this is a bug upstream; skip, say so
                log.warning("%s[%d]@%d skipped: %s", topic, message.partition(), message.offset(), exc)
        return records, [TopicPartition(topic, p, o) for p, o in positions.items() if o >= 0]
    finally:
        consumer.close()


def commit(settings: Settings, group: str, offsets: list) -> None:
    from confluent_kafka import Consumer

    if not offsets:
        return
    consumer = Consumer({**kafka_config(settings), "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=offsets, asynchronous=False)
    finally:
        consumer.close()


def catalog_names(settings: Settings) -> dict[str, str]:
    records, _ = read_new(settings, "label", f"callqa-retrain-catalog-{time.time_ns()}", 100000)
    return {r.label_id: r.name for r in records}


def training_records(pseudo: list[PseudoLabel], human: list[HumanLabel],
                     names: dict[str, str]) -> tuple[list[dict], list[PseudoLabel]]:
    """A call a human labelled after its pseudo-label moves from pseudo data to fine data (its label names and the
    human summary become the target)."""
    labelled = {h.call_id: h for h in human if h.labels}
    fine, rest = [], []
    for record in {r.call_id: r for r in pseudo}.values():  # at-least-once delivery: one record per call
        label = labelled.get(record.call_id)
        if label is None:
            rest.append(record)
        else:
            target = "、".join(names.get(l, l) for l in label.labels.values())
            fine.append({"context_text": record.context_text, "target": target + ("：" + label.summary if label.summary else "")})
    return fine, rest


def promote(settings: Settings, candidate: Path, current: Path, repo: Path) -> int:
    """Export the candidate as the next Triton version, have Triton load it, keep the old model for rollback."""
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import InferenceServerException

    from streams.core import model_control
    from training.export import ENCODER_DECODER, PROJECTOR, export

    version = export(candidate, repo)
    client = grpcclient.InferenceServerClient(settings.triton_url)
    try:
        for model in (ENCODER_DECODER, PROJECTOR, settings.triton_model):  # composing models first, then the ensemble
            client.load_model(model, headers=model_control.headers(repo))  # only the retrain may load models
    except InferenceServerException as exc:
        if "poll" not in str(exc).lower():
            for model in (ENCODER_DECODER, PROJECTOR):  # not served: take the version back, nothing changed
                shutil.rmtree(repo / model / str(version), ignore_errors=True)
            raise
        log.info("Triton polls its repository (the cluster set-up): it loads version %d itself", version)
    previous = current.with_name("previous")
    shutil.rmtree(previous, ignore_errors=True)
    if current.exists():
        current.rename(previous)
    shutil.copytree(candidate, current)
    return version


def retrain(settings: Settings, config: RetrainConfig, repo: Path) -> dict:
    from training.stages.finetune import FinetuneConfig, evaluate, sources
    from training.model import load

    started = time.time()
    models = Path(config.models)
    current = models / "default"
    work = models / f"retrain-{time.strftime('%Y%m%d-%H%M%S')}"
    pseudo, pseudo_offsets = read_new(settings, "pseudo_label", config.group, config.max_records)
    human, human_offsets = read_new(settings, "human_label", config.group, config.max_records)
    fine, pseudo = training_records(pseudo, human, catalog_names(settings))
    report = {"pseudo_records": len(pseudo), "human_labelled_records": len(fine), "work_dir": str(work)}
    log.info("retrain: %d pseudo-labelled calls, %d calls with a late human label", len(pseudo), len(fine))
    if not pseudo and not fine:
        return report | {"promoted": False, "reason": "no new pseudo-labels"}
    work.mkdir(parents=True)
    (work / "pseudo.jsonl").write_bytes(b"\n".join(encode(r) for r in pseudo))
    (work / "fine.jsonl").write_bytes(b"\n".join(orjson.dumps(r) for r in fine))
    extra = {"transfer": [f"--init-dir={current}", f"--out-dir={work / 'transferred'}", f"--pseudo-file={work / 'pseudo.jsonl'}",
                          f"--fine-file={work / 'fine.jsonl'}"],
             "finetune": [f"--init-dir={work / 'transferred'}", f"--out-dir={work / 'candidate'}"]}
    try:
        report["build"] = build_all(work, Path(config.sample_dir), quick=config.quick, extra=extra, stages=("transfer", "finetune"))
    except RuntimeError as exc:
        log.error("retrain failed, nothing changed: %s", exc)
        return report | {"promoted": False, "reason": str(exc)}
    # Both models on the same fixed validation splits (the fine-tune stage's).
    finetune_config = FinetuneConfig(sample_dir=config.sample_dir, **({"csds": "", "products": ""} if config.quick else {}))
    candidate = load(work / "candidate")
    _, valid, labelsets = sources(finetune_config, candidate)  # once: the candidate keeps the template in service
    scores = {}
    for name, model in (("current", load(current)), ("candidate", candidate)):
        per_source = evaluate(model, valid, labelsets)
        scores[name] = {"per_source": per_source, "macro_top1": sum(per_source.values()) / len(per_source)}
    report["scores"] = scores
    if scores["candidate"]["macro_top1"] < scores["current"]["macro_top1"] - config.tolerance:
        log.warning("candidate scores %.4f < %.4f in service: not promoted, nothing changed",
                    scores["candidate"]["macro_top1"], scores["current"]["macro_top1"])
        return report | {"promoted": False, "reason": "worse on the validation splits"}
    report["version"] = promote(settings, work / "candidate", current, repo)
    commit(settings, config.group, pseudo_offsets + human_offsets)
    report |= {"promoted": True, "seconds": round(time.time() - started, 1)}
    write_report(work / "retrain_report.json", report)
    log.info("promoted model version %s", report["version"])
    return report

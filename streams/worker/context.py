"""What every agent of one worker shares, built once at start by streams.worker.app.build_worker."""
from __future__ import annotations

from dataclasses import dataclass

import faust

from streams.core.render import Template
from streams.core.settings import Settings
from streams.worker.channels import Channels
from streams.worker.deadletter import DeadLetters
from streams.worker.steps.rules import RuleBooks
from streams.worker.tables import Tables
from streams.worker.watchdog import Progress


@dataclass(frozen=True)
class Worker:
    settings: Settings
    template: Template  # the one the worker renders with (settings.template())
    app: faust.App
    channels: Channels
    tables: Tables
    dead_letters: DeadLetters
    progress: Progress
    rules: RuleBooks  # the QA rules compiled from tables.rules, shared by the assembler and the attribution

"""The one logging set-up of every entry point (`callqa …`, the benchmark's in-process worker): personal data is
masked in every log record, whatever a message carries."""
from __future__ import annotations

import logging

from streams.core.redact import RedactingFilter


def configure(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())  # no phone, ID or card numbers in logs

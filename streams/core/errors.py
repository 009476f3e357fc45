"""callqa's own errors, one type per decision: the worker retries what may pass later and dead-letters what cannot.

    CallqaError
    ├── DecodeError        the record itself is bad (schema, JSON, key): dead letter with its reason
    ├── InferenceRejected  Triton refuses the request as invalid: retrying cannot help, dead letter
    ├── TritonUnavailable  Triton does not answer or is overloaded: retried in place with backoff
    └── TemplateMismatch   the served model renders another template: retried, never dead-lettered (a rollout)
"""
from __future__ import annotations


class CallqaError(Exception):
    """Base of callqa's own errors."""


class DecodeError(CallqaError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class InferenceRejected(CallqaError):
    """Triton answered that the request itself is invalid: retrying cannot help."""


class TritonUnavailable(CallqaError):
    """Triton did not answer, or answered that it cannot serve now: the same request may pass later."""


class TemplateMismatch(CallqaError):
    """The served model was trained on another template version than this worker renders."""

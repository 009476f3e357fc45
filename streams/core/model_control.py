"""Who may load and unload Triton's models: only a client that sends the model-control header, whose value is a
random token kept in the model repository (`.callqa-model-control-token`, mode 600, a file Triton ignores). The
retrain path reads it from the repository it exports to; the worker never needs it (inference only). Standard
library only (the worker, the stack and training use it)."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

HEADER = "callqa-model-control"
TOKEN_FILE = ".callqa-model-control-token"
# The APIs no callqa client but the retrain uses (model-repository: load / unload / index) or needs at all.
RESTRICTED = "model-repository,trace,logging"


def token(repo: Path, create: bool = False) -> str | None:
    """The repository's model-control token; with `create` (each Triton start of the local stack), made where there
    is none yet. Every Triton serving one repository shares its token: a second server on it (the TLS test's, a
    restart) must not lock the first one's clients out."""
    path = Path(repo) / TOKEN_FILE
    if create and not path.exists():
        value = secrets.token_urlsafe(24)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(value)
        return value
    return path.read_text().strip() if path.exists() else None


def headers(repo: Path, grpc: bool = True) -> dict[str, str]:
    """Headers for a model-control request (tritonclient's `headers=`; gRPC takes the key with Triton's prefix);
    empty where the repository has no token (a Triton started otherwise, e.g. polling its repository)."""
    value = token(repo)
    return {(f"triton-grpc-protocol-{HEADER}" if grpc else HEADER): value} if value else {}


def server_args(value: str) -> list[str]:
    """tritonserver options that refuse the restricted APIs to requests without the header, on HTTP and gRPC."""
    return [f"--http-restricted-api={RESTRICTED}:{HEADER}={value}", f"--grpc-restricted-protocol={RESTRICTED}:{HEADER}={value}"]

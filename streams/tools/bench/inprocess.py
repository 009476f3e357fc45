"""The naive alternative `callqa bench` measures: the model inside the worker, no Triton. It lives with the benchmark,
so that the worker itself never imports torch:  python -m streams.tools.bench.inprocess  (CALLQA_* as for the worker;
the model from CALLQA_IN_PROCESS_MODEL_DIR)."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import numpy as np

from streams.core import logs
from streams.core.settings import Settings
from streams.worker.app import build_worker, run
from streams.worker.steps.encoder import Embeddings


class InProcessEncoder:
    """Inference runs on a thread so the event loop keeps serving Kafka, but every call pays for it in the worker's
    own process."""

    def __init__(self, model_dir: str, threads: int = 2) -> None:
        import torch

        from training.model import load

        torch.set_num_threads(threads)
        self.model = load(model_dir).eval()
        self.model_version = f"in-process:{Path(model_dir).name}"

    async def close(self) -> None:
        pass

    async def embed(self, texts: list[str]) -> Embeddings:
        vectors = await asyncio.get_running_loop().run_in_executor(None, self._encode, texts)
        return Embeddings(vectors, self.model_version, self.model.info["template_version"])

    def _encode(self, texts: list[str]) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self.model.encode(texts).cpu().numpy().astype(np.float32)


def main() -> None:
    logs.configure()
    settings = Settings()
    logging.getLogger(__name__).info("settings: %s", settings.masked())
    run(build_worker(settings, make_encoder=lambda settings, _on_health: InProcessEncoder(settings.in_process_model_dir)))


if __name__ == "__main__":
    main()

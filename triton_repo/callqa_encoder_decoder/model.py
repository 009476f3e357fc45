"""Triton Python backend: TEXT -> POOLED. `callqa export` copies this file into each numbered version."""
import numpy as np
import torch
import triton_python_backend_utils as pb_utils

from training.export import load_served


class TritonPythonModel:
    def initialize(self, args):
        self.model, config = load_served(args)
        self.dtype = pb_utils.triton_string_to_numpy(pb_utils.get_output_config_by_name(config, "POOLED")["data_type"])

    def execute(self, requests):
        texts, spans, responses = [], [], [None] * len(requests)
        for i, request in enumerate(requests):
            try:
                batch = [t.decode("utf-8") for t in pb_utils.get_input_tensor_by_name(request, "TEXT").as_numpy().reshape(-1)]
            except UnicodeDecodeError as exc:
                # INVALID_ARG: the worker dead-letters the call (retrying cannot help), see streams.worker.steps.encoder
                error = pb_utils.TritonError(f"TEXT is not UTF-8: {exc}", pb_utils.TritonError.INVALID_ARG)
                responses[i] = pb_utils.InferenceResponse(error=error)
                continue
            spans.append((i, len(texts), len(texts) + len(batch)))
            texts.extend(batch)
        if texts:
            with torch.no_grad():
                pooled = self.model.pooled(texts).cpu().numpy().astype(self.dtype)
            for i, start, end in spans:
                responses[i] = pb_utils.InferenceResponse([pb_utils.Tensor("POOLED", pooled[start:end])])
        return responses

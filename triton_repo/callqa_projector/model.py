"""Triton Python backend: POOLED -> EMBEDDING (+ the model and template versions). Copied into each version."""
import numpy as np
import torch
import triton_python_backend_utils as pb_utils

from training.export import load_served


class TritonPythonModel:
    def initialize(self, args):
        self.model, _ = load_served(args)
        self.device = next(self.model.parameters()).device
        self.version = np.array([args["model_version"].encode()], dtype=np.object_)
        self.template_version = np.array([self.model.info["template_version"].encode()], dtype=np.object_)

    def execute(self, requests):
        responses = []
        for request in requests:
            pooled = torch.from_numpy(pb_utils.get_input_tensor_by_name(request, "POOLED").as_numpy()).to(self.device)
            with torch.no_grad():
                embedding = self.model.project(pooled).cpu().numpy().astype(np.float32)
            n = len(embedding)
            responses.append(pb_utils.InferenceResponse([
                pb_utils.Tensor("EMBEDDING", embedding),
                pb_utils.Tensor("MODEL_VERSION", np.repeat(self.version[None, :], n, axis=0)),
                pb_utils.Tensor("TEMPLATE_VERSION", np.repeat(self.template_version[None, :], n, axis=0)),
            ]))
        return responses

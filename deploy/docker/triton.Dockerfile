# The official Triton image plus what callqa's two Python-backend models import. Build from the repository root:
#   docker build -f deploy/docker/triton.Dockerfile -t callqa-triton:0.1.0 .
# Tag 25.06 (Triton 2.59, Ubuntu 24.04, Python 3.12). The Python backend runs model.py with this image's own
# Python, so torch, transformers, safetensors and numpy<2 are installed into it, and so is callqa itself (without
# its dependencies): model.py imports training.export, which imports streams.core.render.
#
# Model configuration, not model weights, is baked in, in two variants under /opt/callqa/model-config/:
#   cpu/  triton_repo/ exactly as in git (instance_group KIND_CPU, what the local stack and the tests use)
#   gpu/  the same files with the two Python models' instance groups switched to KIND_GPU (one sed, below, so
#         triton_repo/*/config.pbtxt stays the one source of truth)
# The numbered version folders (the weights) are written by `callqa export` / `callqa retrain` into the model
# repository volume: Kubernetes seeds the chosen variant into that volume with an init container and runs Triton
# with --model-control-mode=poll, so new versions are picked up by every replica; Docker Compose mounts the
# repository's own triton_repo/ (CPU configs plus whatever `callqa export` wrote there) at /models.
# To bake a version into an image instead, build FROM this image and COPY the exported version folders to
# /opt/callqa/model-config/<variant>/<model>/<N>/ for both Python models.

FROM nvcr.io/nvidia/tritonserver:25.06-py3

ARG TORCH_VERSION=2.15.0
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_BREAK_SYSTEM_PACKAGES=1 \
    PYTHONDONTWRITEBYTECODE=1

COPY pyproject.toml /opt/callqa/src/pyproject.toml
COPY streams/ /opt/callqa/src/streams/
COPY training/ /opt/callqa/src/training/
RUN pip install --no-cache-dir "torch==${TORCH_VERSION}" "transformers>=4.46,<5" "safetensors>=0.4" "numpy>=1.26,<2" \
 && pip install --no-cache-dir --no-deps --ignore-requires-python /opt/callqa/src

COPY triton_repo/ /opt/callqa/model-config/cpu/
RUN cp -R /opt/callqa/model-config/cpu /opt/callqa/model-config/gpu \
 && sed -i 's/kind: KIND_CPU/kind: KIND_GPU/' \
      /opt/callqa/model-config/gpu/callqa_encoder_decoder/config.pbtxt \
      /opt/callqa/model-config/gpu/callqa_projector/config.pbtxt \
 && mkdir -p /models && chown 1000:1000 /models

# uid 1000 is the image's triton-server user; numeric, so Kubernetes can check runAsNonRoot
USER 1000:1000
EXPOSE 8000 8001 8002
CMD ["tritonserver", "--model-repository=/models", "--model-control-mode=poll", "--repository-poll-secs=30", "--exit-on-error=false", "--log-verbose=0"]

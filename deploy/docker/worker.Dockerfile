# callqa worker and training image. Build from the repository root:
#   docker build -f deploy/docker/worker.Dockerfile --target worker -t callqa-worker:0.1.0 .
#   docker build -f deploy/docker/worker.Dockerfile --target train  -t callqa-train:0.1.0 .
# Both targets have the entrypoint `callqa`: `callqa worker`, `callqa retrain`, `callqa train <stage> --key=value`,
# `callqa export`, `callqa topics`, `callqa replay` all run from either.
# Two targets, one file: torch is a dependency of the package, but the worker never imports it (a unit test checks),
# so `worker` takes the small CPU-only torch wheel from the PyTorch CPU index; `train` (retrain CronJob, fine-tune
# Job) takes the regular PyPI torch wheel with CUDA. Everything else is the same layer stack.
# The project is installed in place (editable) under /app: the code finds schemas/ and triton_repo/ next to its
# sources, so `callqa export` and `callqa retrain` write model versions into /app/triton_repo, where the cluster
# mounts the shared model repository.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS base
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN groupadd --gid 10001 callqa \
 && useradd --uid 10001 --gid 10001 --create-home --shell /usr/sbin/nologin callqa
WORKDIR /app
COPY pyproject.toml ./
COPY streams/ streams/
COPY training/ training/
COPY schemas/ schemas/
COPY triton_repo/ triton_repo/

FROM base AS worker
ARG TORCH_VERSION=2.15.0
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu "torch==${TORCH_VERSION}" \
 && pip install --no-cache-dir -e . \
 && mkdir -p /var/lib/callqa && chown callqa:callqa /var/lib/callqa
USER 10001:10001
ENV CALLQA_DATA_DIR=/var/lib/callqa
EXPOSE 16066 18080
ENTRYPOINT ["callqa"]
CMD ["worker"]

FROM base AS train
ARG TORCH_VERSION=2.15.0
RUN pip install --no-cache-dir "torch==${TORCH_VERSION}" \
 && pip install --no-cache-dir -e . \
 && mkdir -p /app/.callqa && chown -R callqa:callqa /app/.callqa /app/triton_repo
USER 10001:10001
ENTRYPOINT ["callqa"]
CMD ["retrain"]

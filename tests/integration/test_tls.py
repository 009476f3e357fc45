"""Kafka over TLS and SASL, Triton over gRPC TLS: a CA and a server certificate made for the test (openssl), a broker of
the test's own with an SSL and a SASL_SSL (PLAIN) listener, a Triton of the test's own serving gRPC over TLS only, and
the pipeline (producer -> worker -> outputs) over both, the password read from a file. Nothing of the password
reaches the worker's log."""
from __future__ import annotations

import shutil
import subprocess

import orjson
import pytest
from confluent_kafka.admin import AdminClient

from streams.core.kafka import kafka_config
from streams.core.settings import Settings
from streams.tools.reconcile import reconcile
from streams.tools.replay import publish
from streams.tools.stack import KafkaBroker, TritonServer, free_port
from support import Run, all_final, call_events, finals_by_call, read_all, table_size, wait_until

pytestmark = pytest.mark.integration
PASSWORD = "callqa-test-secret-7f3a"


def make_certificates(d) -> tuple:
    """A self-signed CA, and a server key + certificate for 127.0.0.1 signed by it (PEM; the key unencrypted PKCS#8):
    (CA, the broker's keystore of key and certificate, certificate, key)."""
    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
            "-subj", "/CN=callqa test CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out", "broker.csr", "-subj", "/CN=127.0.0.1")
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "broker.crt",
            "-days", "1", "-extfile", "san.ext")
    openssl("pkcs8", "-topk8", "-nocrypt", "-in", "broker.key", "-out", "broker.p8")
    (d / "broker.pem").write_text((d / "broker.p8").read_text() + (d / "broker.crt").read_text())
    return d / "ca.pem", d / "broker.pem", d / "broker.crt", d / "broker.p8"


@pytest.fixture
def certificates(tmp_path):
    if not shutil.which("openssl"):
        pytest.skip("no openssl command to make the test certificates")
    return make_certificates(tmp_path)


@pytest.fixture
def secure_broker(certificates, tmp_path):
    ca, keystore, _, _ = certificates
    broker = KafkaBroker(tmp_path / "kafka", port=free_port())
    ssl_port, sasl_port = free_port(), free_port()
    listeners = (f"PLAINTEXT://127.0.0.1:{broker.port},SSL://127.0.0.1:{ssl_port},SASL_SSL://127.0.0.1:{sasl_port}")
    broker.extra = {
        "listeners": f"{listeners},CONTROLLER://127.0.0.1:{broker.controller_port}",
        "advertised.listeners": listeners,
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(keystore),
        "sasl.enabled.mechanisms": "PLAIN",
        "listener.name.sasl_ssl.plain.sasl.jaas.config":
            f'org.apache.kafka.common.security.plain.PlainLoginModule required user_callqa="{PASSWORD}";',
    }
    broker.start()
    yield broker, ca, ssl_port, sasl_port
    broker.stop()


@pytest.fixture
def secure_triton(certificates, triton_repo, tmp_path):
    """gRPC over TLS only (HTTP stays plaintext on 127.0.0.1 for the readiness probe)."""
    ca, _, cert, key = certificates
    server = TritonServer(triton_repo, tmp_path / "triton", http_port=free_port(), grpc_port=free_port(),
                          metrics_port=free_port(), extra_args=("--grpc-use-ssl=true", f"--grpc-server-cert={cert}",
                                                                f"--grpc-server-key={key}", f"--grpc-root-cert={ca}"))
    yield server.start()
    server.stop()


def test_pipeline_over_tls_and_sasl(secure_broker, secure_triton, sample_dir, tmp_path):
    broker, ca, ssl_port, sasl_port = secure_broker
    # TLS alone: the CA file is all a client needs; without TLS the listener gives nothing.
    tls = Settings(kafka_bootstrap_servers=f"127.0.0.1:{ssl_port}", kafka_security_protocol="SSL", kafka_ssl_cafile=str(ca))
    AdminClient(kafka_config(tls)).list_topics(timeout=20)
    with pytest.raises(Exception):
        AdminClient({"bootstrap.servers": tls.kafka_bootstrap_servers}).list_topics(timeout=3)
    # Triton's gRPC port likewise answers only a client that trusts the CA.
    import tritonclient.grpc as grpcclient

    assert grpcclient.InferenceServerClient(secure_triton.grpc_url, ssl=True, root_certificates=str(ca)).is_server_ready()
    with pytest.raises(Exception):
        grpcclient.InferenceServerClient(secure_triton.grpc_url).is_server_ready(client_timeout=5)

    # The pipeline over SASL_SSL (TLS + SASL PLAIN), the password from a file.
    secret = tmp_path / "sasl-password"
    secret.write_text(PASSWORD + "\n")
    run = Run.create(f"127.0.0.1:{sasl_port}", secure_triton.grpc_url, tmp_path, CALLQA_TRITON_SSL="true",
                     CALLQA_TRITON_ROOT_CERTIFICATES=str(ca), CALLQA_KAFKA_SECURITY_PROTOCOL="SASL_SSL",
                     CALLQA_KAFKA_SSL_CAFILE=str(ca), CALLQA_KAFKA_SASL_MECHANISM="PLAIN",
                     CALLQA_KAFKA_SASL_USERNAME="callqa", CALLQA_KAFKA_SASL_PASSWORD_FILE=str(secret))
    settings = run.settings
    worker = run.worker().start()
    try:
        n_labels = publish(settings, "label", sample_dir / "catalog.jsonl")
        n_accounts = publish(settings, "account", sample_dir / "accounts.jsonl")
        wait_until(lambda: table_size(settings, "labels") >= n_labels and table_size(settings, "accounts") >= n_accounts,
                   "tables filled over SASL_SSL", 180)
        calls = [call_events(f"tls-{i}", "u-00001", ["您好，请问有什么可以帮您", "我家宽带这两天老是断网", "好的，我帮您报障"])
                 for i in range(3)]
        (tmp_path / "calls.jsonl").write_bytes(b"\n".join(orjson.dumps(e) for call in calls for e in call) + b"\n")
        publish(settings, "transcript", tmp_path / "calls.jsonl")
        finals = finals_by_call(read_all(settings, "attribution", all_final({f"tls-{i}" for i in range(3)}), timeout_s=180))
    finally:
        worker.stop()
    assert all(len(finals[f"tls-{i}"]) == 2 for i in range(3))
    report = reconcile(settings)
    assert report.ok, report.gaps
    assert PASSWORD not in (tmp_path / "worker.log").read_text(errors="replace")

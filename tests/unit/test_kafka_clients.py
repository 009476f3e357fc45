"""One Kafka client configuration for librdkafka, aiokafka and faust: TLS and SASL by configuration, the password from a file."""
import ssl

import pytest

pytest.importorskip("faust")
from faust import SASLCredentials, SSLCredentials  # noqa: E402

from streams.core.kafka import KafkaConnection, aiokafka_config, kafka_config  # noqa: E402
from streams.core.settings import Settings  # noqa: E402
from streams.worker.app import faust_credentials  # noqa: E402


def test_plaintext_by_default():
    settings = Settings(kafka_bootstrap_servers="127.0.0.1:1")
    assert kafka_config(settings) == {"bootstrap.servers": "127.0.0.1:1", "security.protocol": "PLAINTEXT"}
    assert faust_credentials(settings) is None


def test_tls_with_a_ca_file():
    settings = Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=ssl.get_default_verify_paths().cafile or None)
    assert kafka_config(settings)["security.protocol"] == "SSL"
    credentials = faust_credentials(settings)
    assert isinstance(credentials, SSLCredentials) and credentials.context.verify_mode == ssl.CERT_REQUIRED


def test_sasl_password_from_a_file_and_never_in_the_settings_log(tmp_path):
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    settings = Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-512",
                        kafka_sasl_username="callqa", kafka_sasl_password_file=str(secret))
    config = kafka_config(settings)
    assert (config["sasl.mechanism"], config["sasl.username"], config["sasl.password"]) == ("SCRAM-SHA-512", "callqa", "s3cret")
    credentials = faust_credentials(settings)
    assert isinstance(credentials, SASLCredentials) and credentials.password == "s3cret"
    assert credentials.protocol.value == "SASL_SSL" and credentials.mechanism.value == "SCRAM-SHA-512"
    with_env = Settings(kafka_sasl_password="from-env")
    assert "from-env" not in repr(with_env.masked()) and "s3cret" not in repr(settings.masked())


def test_unknown_protocol_is_refused():
    with pytest.raises(ValueError):
        Settings(kafka_security_protocol="TLS")


def test_aiokafka_reads_the_same_tls_and_sasl_settings(tmp_path):
    """The dashboard's clients: they once ignored the password file and TLS (three copies of the configuration)."""
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    cafile = ssl.get_default_verify_paths().cafile or None
    settings = Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-256", kafka_ssl_cafile=cafile,
                        kafka_sasl_username="callqa", kafka_sasl_password_file=str(secret))
    config = aiokafka_config(settings)
    assert (config["security_protocol"], config["sasl_mechanism"]) == ("SASL_SSL", "SCRAM-SHA-256")
    assert (config["sasl_plain_username"], config["sasl_plain_password"]) == ("callqa", "s3cret")
    assert isinstance(config["ssl_context"], ssl.SSLContext) and config["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    assert "ssl_context" not in aiokafka_config(Settings()) and "sasl_mechanism" not in aiokafka_config(Settings())
    tls_only = aiokafka_config(Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=cafile))
    assert isinstance(tls_only["ssl_context"], ssl.SSLContext) and "sasl_mechanism" not in tls_only


def test_sasl_is_decided_by_the_protocol_alike_for_all_three_and_the_password_is_never_shown(tmp_path):
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    settings = Settings(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_username="callqa",
                        kafka_sasl_password_file=str(secret))  # no mechanism set: PLAIN for every client
    assert (kafka_config(settings)["sasl.mechanism"], kafka_config(settings)["sasl.password"]) == ("PLAIN", "s3cret")
    assert (aiokafka_config(settings)["sasl_mechanism"], aiokafka_config(settings)["sasl_plain_password"]) == ("PLAIN", "s3cret")
    credentials = faust_credentials(settings)
    assert credentials.mechanism.value == "PLAIN" and credentials.password == "s3cret"
    assert "s3cret" not in repr(KafkaConnection.from_settings(settings))

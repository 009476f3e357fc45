"""Connection settings for both Kafka clients: TLS and SASL by configuration, the password from a file."""
import ssl

import pytest

pytest.importorskip("faust")
from faust import SASLCredentials, SSLCredentials  # noqa: E402

from streams.settings import Settings  # noqa: E402
from streams.topics import faust_credentials, kafka_config  # noqa: E402


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

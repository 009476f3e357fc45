import stat

from streams.core import model_control


def test_token_is_private_to_the_owner_and_names_the_restricted_apis(tmp_path):
    value = model_control.token(tmp_path, create=True)
    assert stat.S_IMODE((tmp_path / model_control.TOKEN_FILE).stat().st_mode) == 0o600
    assert model_control.token(tmp_path) == value
    assert model_control.headers(tmp_path) == {"triton-grpc-protocol-callqa-model-control": value}
    assert model_control.headers(tmp_path, grpc=False) == {"callqa-model-control": value}
    assert all("model-repository" in arg and value in arg for arg in model_control.server_args(value))
    assert model_control.headers(tmp_path / "none") == {}


def test_a_second_server_on_the_repository_keeps_its_token(tmp_path):
    """The TLS test's own Triton on the session's repository once replaced the token the session's server checks."""
    first = model_control.token(tmp_path, create=True)
    assert model_control.token(tmp_path, create=True) == first

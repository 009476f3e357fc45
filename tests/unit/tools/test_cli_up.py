"""`callqa up` takes the demo's model option and publishes a catalog, so the stack it starts attributes calls."""
import contextlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("faust")
from streams import cli  # noqa: E402


def test_up_serves_the_model_and_publishes_the_catalog(monkeypatch, tmp_path):
    served, published = [], []

    @contextlib.contextmanager
    def stack(kafka_data, workers):
        yield {"kafka": "k", "dashboard": "http://d/", "dashboard_token": None}

    def interrupt(_):
        raise KeyboardInterrupt

    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text('{"label_id": "x"}\n')
    monkeypatch.setattr(cli, "_stack", stack)
    monkeypatch.setattr("streams.tools.local.serve_model", lambda model, say: served.append(model))
    monkeypatch.setattr("streams.tools.replay.publish", lambda settings, event, path: published.append((event, Path(path))) or 1)
    monkeypatch.setattr(cli.time, "sleep", interrupt)
    model = tmp_path / "model"
    rules = tmp_path / "rules.jsonl"
    result = CliRunner().invoke(cli.app, ["up", "--model", str(model), "--catalog", str(catalog), "--rules", str(rules),
                                          "--accounts", str(catalog)])
    assert result.exit_code == 0, result.output
    assert served == [model] and published == [("label", catalog), ("rule", rules), ("account", catalog)]

    published.clear()
    result = CliRunner().invoke(cli.app, ["up", "--no-catalog-publish"])
    assert result.exit_code == 0, result.output
    assert published == []

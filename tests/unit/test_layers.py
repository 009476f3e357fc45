"""The house rules (docs/architecture.md): arrows point down only. streams.core imports nothing of the project
above it, and neither faust nor torch; the worker, the dashboard, the QA database (streams.qadb) and training import
the core and never each other (but the dashboard may read the QA database through streams.qadb); the tools and the
CLI may import anything. Every import counts, also those inside functions."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# layer -> the project layers it may import (itself included)
ALLOWED = {
    "streams.core": {"streams.core"},
    "streams.worker": {"streams.core", "streams.worker"},
    "streams.dashboard": {"streams.core", "streams.dashboard", "streams.qadb"},
    "training": {"streams.core", "training"},
    "streams.qadb": {"streams.core", "streams.qadb"},  # the QA database: the dashboard may import it, never the reverse
}
# third-party packages a layer must not import
FORBIDDEN = {
    "streams.core": {"faust", "aiokafka", "torch", "transformers", "tritonclient"},
    "streams.worker": {"torch", "transformers"},
    "streams.dashboard": {"faust", "torch", "transformers"},
    "streams.qadb": {"faust", "aiokafka", "torch", "transformers", "tritonclient"},
}
PROJECT = ("streams.core", "streams.worker", "streams.dashboard", "streams.qadb", "streams.tools", "streams.cli",
           "training")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str | None:
    return next((layer for layer in PROJECT if module == layer or module.startswith(layer + ".")), None)


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)  # from streams import worker
    return found


MODULES = sorted(p for package in ("streams", "training") for p in (REPO / package).rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_arrows_point_down(path):
    layer = layer_of(module_name(path))
    if layer not in ALLOWED:
        return  # the tools and the CLI may import anything
    wrong = sorted(name for name in imports(path)
                   if (target := layer_of(name)) is not None and target not in ALLOWED[layer])
    assert not wrong, f"{module_name(path)} ({layer}) imports {wrong}"
    banned = sorted(name for name in imports(path) if name.split(".")[0] in FORBIDDEN.get(layer, ()))
    assert not banned, f"{module_name(path)} ({layer}) imports {banned}"


def test_every_module_is_in_a_layer():
    assert [module_name(p) for p in MODULES if layer_of(module_name(p)) is None] == ["streams"]  # its empty __init__


def test_the_worker_never_imports_torch():
    """Every worker module, not only the default import: a model inside the worker belongs to the benchmark."""
    modules = [module_name(p) for p in MODULES if layer_of(module_name(p)) in ("streams.worker", "streams.core")]
    code = f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n" \
           "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)

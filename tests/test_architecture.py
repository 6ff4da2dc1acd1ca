"""The house rules that code review would otherwise have to remember."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "lstmcast"

# Who may import whom (inside the package). Imports flow one way: cli -> workflows -> ... -> errors.
ALLOWED = {
    "cli": {"workflows", "dumps", "backtesting", "errors", "config", "persistence", "training", "statefiles",
            "__init__"},
    "dumps": {"workflows", "forecast", "persistence", "statefiles", "states", "models", "plots", "errors", "__init__"},
    "workflows": {"config", "data", "preprocess", "models", "training", "forecast", "persistence", "plots",
                  "states", "statefiles", "backtest", "errors", "__init__"},
    "backtesting": {"workflows", "evaluation", "forecast", "preprocess", "data", "models", "training", "persistence",
                    "plots", "config", "errors"},
    "evaluation": {"forecast"},
    "states": {"models", "statefiles"},
    "statefiles": {"errors"},
    "training": {"models", "config", "errors", "faults"},
    "forecast": {"preprocess", "training", "data", "models", "errors"},
    "persistence": {"errors", "faults"},
    "faults": set(),
    "plots": set(),
    "preprocess": {"config", "data", "errors"},
    "data": {"errors"},
    "models": {"config"},
    "config": {"errors"},
    "errors": set(),
    "__init__": set(),
    "__main__": {"cli"},
}


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lstmcast"):
            parts = node.module.split(".")
            if len(parts) > 1:
                found.add(parts[1])
            else:  # from lstmcast import X: a module, or __version__ from __init__
                found.update("__init__" if alias.name == "__version__" else alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("lstmcast."))
    return found


def test_imports_flow_one_way():
    for path in PACKAGE.glob("*.py"):
        extra = imports_of(path) - ALLOWED[path.stem] - {path.stem}
        assert not extra, f"{path.name} imports {extra}"


def test_only_cli_uses_typer_or_rich():
    for path in PACKAGE.glob("*.py"):
        text = path.read_text()
        if path.stem != "cli":
            assert "import typer" not in text and "from rich" not in text and "print(" not in text, path.name


def test_cli_import_leaves_torch_and_pandas_unloaded():
    code = "import sys, lstmcast.cli; print(sorted(m for m in ('torch', 'pandas', 'matplotlib') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_no_unsafe_loaders_in_the_source():
    banned = ("import pickle", "import joblib", "allow_pickle=True", "pickle_module", "weights_only=False",
              "yaml.unsafe_load", "yaml.full_load", "Loader=yaml.Loader", "Loader=yaml.FullLoader",
              "import dill", "import shelve", "marshal")
    for path in PACKAGE.glob("*.py"):
        text = path.read_text()
        calls = {n.func.id for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert not calls & {"eval", "exec", "__import__"}, path.name
        for pattern in banned:
            assert pattern not in text, f"{path.name}: {pattern}"
        for call in ("torch.load(", "np.load(", "numpy.load("):
            for line in (line for line in text.splitlines() if call in line):
                safe = "weights_only=True" if call == "torch.load(" else "allow_pickle=False"
                assert safe in line, f"{path.name}: {line.strip()}"
        if "yaml.load(" in text:
            assert "Loader=_StrictLoader" in text and "class _StrictLoader(yaml.SafeLoader)" in text

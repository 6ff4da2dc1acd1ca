"""The house rules that code review would otherwise have to remember, read from the source itself."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "lstmcast"

# Imports flow one way, down these tiers: cli -> workflows -> scoring -> {domain packages} -> {data, models} -> config
# -> files -> {errors, faults}. A package imports its own modules and anything in a lower tier, never a sibling of its tier.
TIERS = [
    {"__init__", "errors", "faults"},
    {"files"},
    {"config"},
    {"data", "models"},
    {"training", "forecasting", "introspect", "evaluation", "runs", "outputs", "tuning", "exporting"},
    {"scoring"},  # a model scored on prepared data: forecasting and evaluation together, shared by the workflows
    {"workflows"},
    {"cli", "api"},
    {"__main__"},
]
TIER = {name: level for level, names in enumerate(TIERS) for name in names}
FACADE = ("__init__", "lstmcast.api")  # the one upward edge: lstmcast.train/load, imported lazily on first use
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 300, 50


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def unit(path: Path) -> str:
    """The top-level package (or module) of lstmcast that a file belongs to."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def imports_of(path: Path) -> list[tuple[str, str]]:
    """(unit, full module) for every lstmcast import in a file, at any depth (lazy imports count too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "lstmcast":
            parts = node.module.split(".")
            names = [node.module] if len(parts) > 1 else [
                "lstmcast.__init__" if alias.name == "__version__" else f"lstmcast.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names if alias.name.startswith("lstmcast.")]
        found += [(name.split(".")[1], name) for name in names]
    return found


def test_every_package_has_a_tier():
    assert {unit(path) for path in modules()} <= set(TIER), "put a new package into TIERS"


def test_imports_flow_one_way():
    for path in modules():
        own = unit(path)
        for target, module in imports_of(path):
            allowed = target == own or TIER[target] < TIER[own] or FACADE == (own, module)
            assert allowed, f"{path.relative_to(PACKAGE)} imports {module} (tier {TIER[target]} from tier {TIER[own]})"


def test_no_workflow_imports_another():
    for path in (PACKAGE / "workflows").glob("*.py"):
        assert not [m for t, m in imports_of(path) if t == "workflows"], path.name


def test_evaluation_never_imports_torch():
    code = ("import sys, lstmcast.evaluation.backtest, lstmcast.evaluation.metrics, lstmcast.evaluation.significance;"
            "print('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() \
        == "False"


def test_only_cli_uses_typer_or_rich_and_library_code_never_prints():
    for path in modules():
        if unit(path) != "cli":
            text = path.read_text()
            assert "import typer" not in text and "from rich" not in text and "print(" not in text, path


def test_cli_import_leaves_torch_and_pandas_unloaded():
    code = "import sys, lstmcast.cli; print(sorted(m for m in ('torch', 'pandas', 'matplotlib') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_modules_and_functions_stay_small():
    for path in modules():
        lines = len(path.read_text().splitlines())
        assert lines <= MAX_MODULE_LINES, f"{path.relative_to(PACKAGE)}: {lines} lines; split it by responsibility"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.body[1:] if ast.get_docstring(node) and len(node.body) > 1 else node.body
                length = node.end_lineno - body[0].lineno + 1  # the code, not the signature or docstring
                assert length <= MAX_FUNCTION_LINES, f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}: {length}"


def test_no_unsafe_loaders_in_the_source():
    banned = ("import pickle", "import joblib", "allow_pickle=True", "pickle_module", "weights_only=False",
              "yaml.unsafe_load", "yaml.full_load", "Loader=yaml.Loader", "Loader=yaml.FullLoader",
              "import dill", "import shelve", "marshal")
    for path in modules():
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

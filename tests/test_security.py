"""Security properties that hold for the whole code base, checked on its syntax tree.

Nothing read from disk or the network may be unpickled or evaluated: indexes are FAISS files, SQLite, JSON and
plain NumPy arrays. A new `import pickle`, `eval(...)` or `np.load(..., allow_pickle=True)` fails here with the
file and line, so the reviewer sees it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from .conftest import ROOT

PACKAGES = ("assistant", "embeddings")
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "joblib", "marshal", "shelve", "cloudpickle"}
UNSAFE_BUILTINS = {"eval", "exec", "compile", "__import__"}


def _sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def unsafe_uses(source: str, filename: str = "<string>") -> list[str]:
    """Every unpickling, eval-like call or pickle-enabling flag in ``source``, as 'file:line what'."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            found += [f"{where} import {a.name}" for a in node.names if a.name.split(".")[0] in UNSAFE_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNSAFE_MODULES:
            found.append(f"{where} from {node.module} import …")
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if isinstance(func, ast.Name) and name in UNSAFE_BUILTINS:
                found.append(f"{where} {name}()")
            for kw in node.keywords:
                if kw.arg == "allow_pickle" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                    found.append(f"{where} {name}(allow_pickle=…)")
                if kw.arg == "weights_only" and not (isinstance(kw.value, ast.Constant) and kw.value.value is True):
                    found.append(f"{where} {name}(weights_only=…)")
            if name == "load" and isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                if func.value.id == "torch" and not any(kw.arg == "weights_only" for kw in node.keywords):
                    found.append(f"{where} torch.load without weights_only=True")
                if func.value.id == "yaml":
                    found.append(f"{where} yaml.load (use yaml.safe_load)")
    return found


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_pickle_or_eval_of_stored_data(path: Path) -> None:
    assert unsafe_uses(path.read_text("utf-8"), str(path.relative_to(ROOT))) == []


@pytest.mark.parametrize("snippet", [
    "import pickle",
    "from joblib import load",
    "eval(text)",
    "exec(code)",
    "np.load(path, allow_pickle=True)",
    "torch.load(path)",
    "torch.load(path, weights_only=False)",
    "yaml.load(stream)",
])
def test_the_checker_catches_each_unsafe_form(snippet: str) -> None:
    assert unsafe_uses(snippet)


def test_the_checker_accepts_safe_forms() -> None:
    safe = "import json\nnp.load(p, allow_pickle=False)\ntorch.load(p, weights_only=True)\nre.compile('x')\n"
    assert unsafe_uses(safe) == []

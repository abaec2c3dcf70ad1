"""The layers of shared/ARCHITECTURE.md: nothing in ``resumable`` imports upward.

Read from the source (no import runs): every ``import``/``from … import`` statement,
including those under ``TYPE_CHECKING`` and inside functions, and every
``importlib.import_module("resumable…")`` / ``find_spec("resumable…")`` with a literal
name, so a lazy import by string cannot hide an upward dependency either.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "resumable"

# Lowest first. A module may import its own tier and the tiers below it. ``tasks`` and
# ``execution`` share a tier on purpose: tasks hands attempts to engines, engines run
# task attempts. Private top-level modules not listed (``resumable/_something.py``) are
# helpers and belong to the foundation tier.
TIERS: list[tuple[str, frozenset[str]]] = [
    ("errors", frozenset({"_errors"})),
    ("foundation", frozenset({"_db", "_config", "migrations", "store"})),
    ("tasks", frozenset({"tasks", "execution", "coordination"})),
    ("jobs", frozenset({"jobs"})),
    ("airflow", frozenset({"airflow"})),
    # The public faces: the root package, the command line, the REST API, the test
    # helpers and the Celery engine's public module may use everything below them.
    ("surface", frozenset({"<root>", "__main__", "cli", "api", "testing", "celery"})),
]
# Never imported by the package at all: they are not shipped in it.
OUTSIDE = ("tests", "benchmarks", "conftest", "noxfile", "resumable_providers", "providers")


def tier_of(part: str) -> int:
    for index, (_, parts) in enumerate(TIERS):
        if part in parts:
            return index
    if part.startswith("_"):
        return 1
    raise AssertionError(
        f"resumable/{part} is in no layer: add it to TIERS in tests/test_layers.py "
        "(see shared/ARCHITECTURE.md)"
    )


def first_part(module: str) -> str:
    """``resumable.tasks._api`` -> ``tasks``; the root package -> ``<root>``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "<root>"


def module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_submodule(name: str, root: Path) -> bool:
    target = root.joinpath(*name.split("."))
    return target.with_suffix(".py").exists() or (target / "__init__.py").exists()


def imports_of(path: Path, root: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) for every import in ``path``."""
    here = module_name(path, root)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            # ``from resumable import _config`` depends on the submodule only; names
            # that are not submodules are attributes of ``module`` itself.
            for alias in node.names:
                if module.startswith("resumable") and is_submodule(f"{module}.{alias.name}", root):
                    yield node.lineno, f"{module}.{alias.name}"
                else:
                    yield node.lineno, module
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            arg = node.args[0]
            if (
                name in ("import_module", "find_spec", "__import__")
                and isinstance(arg, ast.Constant)
                and isinstance(arg.value, str)
            ):
                yield node.lineno, arg.value


def violations(root: Path = ROOT) -> list[str]:
    """Every upward or out-of-package import in ``root``/resumable, one line each."""
    found = []
    for path in sorted((root / "resumable").rglob("*.py")):
        here = module_name(path, root)
        own = tier_of(first_part(here))
        for line, target in imports_of(path, root):
            where = f"{path.relative_to(root)}:{line}"
            top = target.split(".")[0]
            if top in OUTSIDE:
                found.append(f"{where} imports {target} (not part of the package)")
            elif top == "resumable":
                # The root package imports its own submodules, but only the ones it
                # names; ``import resumable`` from below the surface is upward.
                if target == "resumable" or not is_submodule(target, root):
                    other = len(TIERS) - 1
                else:
                    other = tier_of(first_part(target))
                if other > own:
                    found.append(
                        f"{where}: {here} ({TIERS[own][0]}) imports {target} "
                        f"({TIERS[other][0]}), a higher layer"
                    )
    return found


def test_no_module_imports_a_higher_layer() -> None:
    assert violations() == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from resumable.airflow import install\n", "a higher layer"),
        ("import resumable.jobs\n", "a higher layer"),
        ("import importlib\nimportlib.import_module('resumable.airflow')\n", "a higher layer"),
        ("from resumable import cli\n", "a higher layer"),
        ("import resumable\n", "a higher layer"),
        ("from tests.conftest import x\n", "not part of the package"),
        ("import benchmarks.bench_store\n", "not part of the package"),
    ],
)
def test_the_check_sees_an_upward_import(tmp_path: Path, source: str, expected: str) -> None:
    # A copy of the real package with one bad line added to the store layer.
    fake_root = tmp_path / "repo"
    fake_package = fake_root / "resumable"
    for path in PACKAGE.rglob("*.py"):
        target = fake_package / path.relative_to(PACKAGE)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (fake_package / "store" / "_upward.py").write_text(source, encoding="utf-8")

    found = violations(fake_root)

    assert len(found) == 1
    assert "resumable/store/_upward.py" in found[0]
    assert expected in found[0]


def test_tier_order() -> None:
    assert tier_of("store") < tier_of("tasks") == tier_of("execution") < tier_of("jobs")
    assert tier_of("jobs") < tier_of("airflow") < tier_of("cli")
    assert tier_of("_time") == tier_of("store")  # an unlisted private helper module


def test_tests_and_benchmarks_are_not_shipped() -> None:
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert config["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["resumable"]
    for name in OUTSIDE:
        assert not (PACKAGE / name).exists(), f"resumable/{name} must not exist"


# Airflow 2 has no task SDK: these are imported only in the ``except ImportError``
# branch of a ``try`` that imports from ``airflow.sdk`` first.
AIRFLOW2_FALLBACKS = {"airflow.hooks.base", "airflow.operators.python"}


def airflow_imports(root: Path = ROOT) -> list[tuple[str, str, bool]]:
    """(where, module, inside an ``except ImportError``) for every Airflow import."""
    found = []
    for path in sorted((root / "resumable").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        fallback_lines: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Try):
                for handler in node.handlers:
                    if ast.unparse(handler.type or ast.Name("")) == "ImportError":
                        fallback_lines.update(
                            n.lineno for n in ast.walk(handler) if hasattr(n, "lineno")
                        )
        for line, module in imports_of(path, root):
            if module.split(".")[0] == "airflow":
                where = f"{path.relative_to(root)}:{line}"
                found.append((where, module, line in fallback_lines))
    return found


def test_airflow_is_reached_only_through_the_public_task_sdk() -> None:
    # On Airflow 3, resumable uses airflow.sdk and nothing else (docs/airflow.md).
    wrong = [
        f"{where} imports {module}"
        for where, module, in_fallback in airflow_imports()
        if not (
            (module == "airflow.sdk" or module.startswith("airflow.sdk."))
            and not any(part.startswith("_") for part in module.split("."))
        )
        and not (module in AIRFLOW2_FALLBACKS and in_fallback)
    ]
    assert wrong == []
    assert any(module == "airflow.sdk" for _, module, _ in airflow_imports())

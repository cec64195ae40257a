"""The package layout keeps its promises (docs/architecture.md): no import cycle, the domain
never imports the web layer or the jobs, core imports no domain, imports sit at the top of a
module, and no module grows past what one reader holds in mind."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = ("accounts", "tracking", "participants", "rewards", "webhooks", "reporting")
CORE_MAY_IMPORT = ("referral_app.core", "referral_app.models", "referral_app.extensions")
MAX_LINES = 450
# Imports inside functions: only the app factory (Flask's own pattern) and heavy optional
# libraries loaded when first needed.
LAZY_ALLOWED_FILES = {"referral_app/__init__.py"}
LAZY_ALLOWED_MODULES = ("rq", "redis", "sentry_sdk", "gunicorn", "playwright")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> list[Path]:
    return sorted(
        path
        for top in ("referral_app", "jobs")
        for path in (ROOT / top).rglob("*.py")
        if "__pycache__" not in path.parts
    )


MODULES = {module_name(path): path for path in source_files()}


def resolve(path: Path, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module_name(path).split(".")
    if path.name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(path: Path) -> list[tuple[str, ast.stmt, bool]]:
    """(imported project module, the statement, whether it sits inside a function)."""
    tree = ast.parse(path.read_text())
    inner: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            inner |= {id(sub) for sub in ast.walk(node) if sub is not node}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = resolve(path, node)
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.append((target if target in MODULES else base, node, id(node) in inner))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                found.append((alias.name, node, id(node) in inner))
    return found


GRAPH = {
    name: {target for target, _node, _lazy in imports(path) if target in MODULES}
    for name, path in MODULES.items()
}


def test_there_is_no_import_cycle():
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for target in sorted(GRAPH[name]):
            if state.get(target) == 1:
                cycles.append(trail[trail.index(target) :] + [target])
            elif target not in state:
                visit(target, [*trail, target])
        state[name] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])
    assert cycles == []


@pytest.mark.parametrize("package", DOMAIN + ("core", "models"))
def test_the_domain_never_imports_the_web_layer_or_the_jobs(package):
    offending = [
        f"{name} -> {target}"
        for name, targets in GRAPH.items()
        if name.startswith(f"referral_app.{package}")
        for target in targets
        if target.startswith(("referral_app.web.", "referral_app.cli", "jobs."))
    ]
    assert offending == []


def test_core_imports_no_domain_package():
    offending = [
        f"{name} -> {target}"
        for name, targets in GRAPH.items()
        if name.startswith("referral_app.core")
        for target in targets
        if target.startswith("referral_app.") and not target.startswith(CORE_MAY_IMPORT)
    ]
    assert offending == []


def test_imports_sit_at_the_top_of_a_module():
    lazy = [
        f"{path.relative_to(ROOT)}:{node.lineno} {target}"
        for path in source_files()
        if str(path.relative_to(ROOT)) not in LAZY_ALLOWED_FILES
        for target, node, inside in imports(path)
        if inside and not target.startswith(LAZY_ALLOWED_MODULES)
    ]
    assert lazy == []


def test_no_module_is_longer_than_one_reader_holds_in_mind():
    long = {
        str(path.relative_to(ROOT)): n
        for path in source_files()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_no_section_comments_stand_in_for_modules():
    sections = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in source_files()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if line.startswith("# ---")
    ]
    assert sections == []

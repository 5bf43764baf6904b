"""The library's shape: short functions and no import loops (the issue's acceptance, checked on every run)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[1]
#: the library and the book's tooling (the notebook runner), held to the same rules.
PACKAGES = ("cellclr_lib", "cellclr_book")
MAX_LINES = 80
#: functions allowed over the limit (none: keep it that way).
KNOWN_LONG: set[str] = set()


def modules() -> dict[str, ast.Module]:
    return {
        str(p.relative_to(ROOT)): ast.parse(p.read_text(encoding="utf-8"))
        for package in PACKAGES
        for p in (ROOT / package).rglob("*.py")
    }


def test_no_function_is_longer_than_80_lines() -> None:
    long = {
        f"{path}:{node.name}": node.end_lineno - node.lineno + 1
        for path, tree in modules().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_LINES
    }
    assert set(long) <= KNOWN_LONG, {k: v for k, v in long.items() if k not in KNOWN_LONG}


def module_name(path: str) -> str:
    parts = list(Path(path).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports(tree: ast.Module, name: str, is_package: bool) -> set[str]:
    """Modules of the package imported at module level (function-level imports are deliberate and lazy)."""
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
    return {m for m in found if m.startswith(PACKAGES)}


def test_no_import_loops() -> None:
    trees = modules()
    names = {module_name(path): (tree, path.endswith("__init__.py")) for path, tree in trees.items()}
    graph = {
        name: {m for m in top_level_imports(tree, name, pkg) if m in names and m != name}
        for name, (tree, pkg) in names.items()
    }
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import loop: " + " -> ".join([*path, node, nxt]))
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])

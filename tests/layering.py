"""Import graphs of the package's own source, for the layering tests: every import a module runs (function-local
ones included; those under `if TYPE_CHECKING:` never run and are left out), relative imports resolved."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path


def module_name(path: Path, root: Path, prefix: str) -> str:
    """prefix.x.y of root/x/y.py (prefix.x of root/x/__init__.py)."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join([prefix, *parts[: -1 if parts[-1] == "__init__" else None]])


def imports(source: str, package: list[str]) -> set[str]:
    """Every module that source imports when it runs, relative imports resolved from package (a list of names)."""
    names = set()
    nodes = [ast.parse(source)]
    while nodes:
        node = nodes.pop()
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            nodes += node.orelse
            continue
        nodes += ast.iter_child_nodes(node)
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = [*base, *node.module.split(".")] if node.module else base
            names.add(".".join(module))
            names |= {".".join([*module, alias.name]) for alias in node.names}  # `from . import x` imports x
    return names


def all_imports(root: Path, prefix: str) -> dict[str, set[str]]:
    """Module -> every module it imports, for every module below root (named from prefix)."""
    found = {}
    for path in root.rglob("*.py"):
        name = module_name(path, root, prefix)
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        found[name] = imports(path.read_text(), package)
    return found


def internal_graph(root: Path, prefix: str) -> dict[str, set[str]]:
    """Module -> the modules below root that it imports."""
    found = all_imports(root, prefix)
    return {name: names & found.keys() - {name} for name, names in found.items()}


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """An import cycle of the graph, or None."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as err:
        return list(err.args[1])
    return None

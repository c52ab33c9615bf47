"""Layering of invert.core, from its source: no import cycles (function-local imports included; typing-only ones,
which never run, left out), no imports of the apps, and Lightning imported by core/training.py alone."""

import ast
import graphlib
from pathlib import Path

import invert.core

CORE = Path(invert.core.__file__).parent
LIGHTNING = {"pytorch_lightning", "lightning", "lightning_fabric"}


def _module_name(path: Path) -> str:
    """invert.core.x.y of core/x/y.py (invert.core.x of core/x/__init__.py)."""
    parts = path.relative_to(CORE).with_suffix("").parts
    return ".".join(["invert.core", *parts[: -1 if parts[-1] == "__init__" else None]])


def _package(path: Path) -> list[str]:
    """The package that relative imports of a file start from."""
    name = _module_name(path).split(".")
    return name if path.name == "__init__.py" else name[:-1]


def _imports(source: str, package: list[str]) -> set[str]:
    """Every module that source imports when it runs, anywhere (functions included), relative imports resolved from
    package; imports under `if TYPE_CHECKING:` never run and are left out."""
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


def _graph() -> dict[str, set[str]]:
    """Module -> the core modules it imports."""
    imports = _all_imports()
    return {name: names & imports.keys() - {name} for name, names in imports.items()}


def _all_imports() -> dict[str, set[str]]:
    """Module -> every module it imports."""
    return {_module_name(path): _imports(path.read_text(), _package(path)) for path in CORE.rglob("*.py")}


def test_no_import_cycles():
    try:
        graphlib.TopologicalSorter(_graph()).prepare()
    except graphlib.CycleError as err:
        raise AssertionError(f"import cycle in invert.core: {' -> '.join(err.args[1])}") from None


def test_imports_are_found_anywhere():
    source = ("from .a import b\nimport e.f\ndef g():\n    from ..c import d\n    from . import h\n"
              "if TYPE_CHECKING:\n    from .t import u\n")
    found = _imports(source, ["invert", "core", "pkg"])
    assert {"invert.core.pkg.a", "e.f", "invert.core.c", "invert.core.c.d", "invert.core.pkg.h"} <= found
    assert "invert.core.pkg.t" not in found
    assert {"invert.core.nets", "invert.core.posterior"} <= _graph()["invert.core.bundle"]


def test_core_never_imports_the_apps():
    bad = {m: sorted(i for i in names if i.startswith("invert.apps")) for m, names in _all_imports().items()}
    assert not {m: names for m, names in bad.items() if names}


def test_lightning_only_in_training():
    users = {m for m, names in _all_imports().items() if {n.split(".")[0] for n in names} & LIGHTNING}
    assert users == {"invert.core.training"}

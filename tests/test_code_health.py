"""The package's shape: no import cycles between its modules, no long library functions.

Both read the source with `ast` (nothing is imported). An import counts wherever it stands: at the
top, inside a function, or under ``if TYPE_CHECKING:``, because each is a dependency a reader has
to follow. Importing ``a.b`` also runs ``a/__init__.py``; that implicit edge is not counted (a
package that re-exports its submodules would otherwise always be a cycle).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "fcdmbench"
#: Function bodies (from the first statement after the docstring to the end) longer than this are
#: split up.
MAX_BODY_LINES = 80
#: Import cycles still to be broken: the modules of each strongly connected component.
KNOWN_CYCLES: set[frozenset[str]] = set()
#: Functions still over `MAX_BODY_LINES` (path relative to the package, function name).
KNOWN_LONG: set[tuple[str, str]] = set()


def _trees(root: Path) -> dict[str, tuple[Path, ast.Module]]:
    """Module name -> (file, syntax tree) for every module of the package at `root`."""
    trees = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        trees[name] = (path, ast.parse(path.read_text()))
    return trees


def _imported(module: str, is_package: bool, node: ast.AST, known: set[str]) -> set[str]:
    """The package's modules that one import statement loads."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            here = module.split(".") if is_package else module.split(".")[:-1]
            anchor = here[: len(here) - node.level + 1]
            base = ".".join(anchor + ([node.module] if node.module else []))
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
    else:
        return set()
    found = set()
    for name in names:
        while name not in known and "." in name:
            name = name.rsplit(".", 1)[0]
        if name in known and name != module:
            found.add(name)
    return found


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package modules it imports (anywhere in its source)."""
    trees = _trees(root)
    known = set(trees)
    return {
        module: set().union(
            *(_imported(module, path.name == "__init__.py", n, known) for n in ast.walk(tree))
        )
        for module, (path, tree) in trees.items()
    }


def import_cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: set[frozenset[str]] = set()

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            at = stack.index(node)
            component, stack[at:] = frozenset(stack[at:]), []
            if len(component) > 1:
                cycles.add(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def _body_lines(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = fn.body
    first = body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        body = body[1:]  # the docstring
    return fn.end_lineno - body[0].lineno + 1 if body else 0


def long_functions(root: Path = PACKAGE) -> dict[tuple[str, str], int]:
    """(path, function) -> body lines, for every function longer than `MAX_BODY_LINES`."""
    found = {}
    for path, tree in _trees(root).values():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = _body_lines(node)
                if lines > MAX_BODY_LINES:
                    found[(path.relative_to(root).as_posix(), node.name)] = lines
    return found


def test_no_import_cycles():
    cycles = import_cycles(import_graph())
    new = {", ".join(sorted(c)) for c in cycles - KNOWN_CYCLES}
    assert not new, f"import cycles: {sorted(new)}"
    gone = {", ".join(sorted(c)) for c in KNOWN_CYCLES - cycles}
    assert not gone, f"broken already, remove from KNOWN_CYCLES: {sorted(gone)}"


def test_cycle_finder_sees_function_level_and_relative_imports(tmp_path):
    """The detector itself: a cycle closed only by an import inside a function is found."""
    pkg = tmp_path / "fcdmbench"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from fcdmbench.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .. import a\n")
    (pkg / "c.py").write_text("import fcdmbench.a\n")
    assert import_cycles(import_graph(pkg)) == {frozenset({"fcdmbench.a", "fcdmbench.sub.b"})}


def test_no_long_functions():
    found = long_functions()
    new = {
        f"{p}:{name} ({n} lines)" for (p, name), n in found.items() if (p, name) not in KNOWN_LONG
    }
    assert not new, f"functions over {MAX_BODY_LINES} lines (split them): {sorted(new)}"
    gone = KNOWN_LONG - set(found)
    assert not gone, f"now short enough, remove from KNOWN_LONG: {sorted(gone)}"


def test_long_function_finder_skips_the_docstring(tmp_path):
    pkg = tmp_path / "fcdmbench"
    pkg.mkdir()
    doc = '    """' + "\n" * MAX_BODY_LINES + '    """\n'
    body = "    x = 1\n" * MAX_BODY_LINES
    (pkg / "m.py").write_text(f"def short():\n{doc}{body}\n\ndef long():\n{body}    return x\n")
    assert long_functions(pkg) == {("m.py", "long"): MAX_BODY_LINES + 1}

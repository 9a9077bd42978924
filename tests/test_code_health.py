"""The repository's shape: no import loops, no long functions, a lean `flops` command.

What is scanned (the rules are listed in docs/development.md, "Code health"):

- `fcdmbench/` (the package), `baselines/` (installed as `fcdmbench_baselines`) and
  `benchmarks/` (scripts; a bare ``import bench_x`` there names the sibling script).
- **Imports** are read with `ast` (nothing is imported). An import counts wherever it stands: at
  the top, inside a function, or under ``if TYPE_CHECKING:``. So does an import by name:
  ``importlib.import_module(...)`` or ``__import__(...)`` with a string literal, an f-string
  (its literal prefix: every module under it), a module constant holding names (a string or a
  tuple/list of strings), or the variable of a ``for`` loop over such a constant. Importing
  ``a.b`` also runs ``a/__init__.py``; that implicit edge is not counted.
- **Folders**: a subpackage of `fcdmbench/` is one node (``fcdmbench.flops``), each top-level
  module of `fcdmbench/` is its own node (``fcdmbench.registry``), and `baselines/` and
  `benchmarks/` are one node each. No two folders may reach each other, and the folders of
  `LAYERS` import none listed above them.
- **Functions** are measured whole: from the first decorator (or the ``def``) to the last line,
  docstring included; CLI commands and nested functions alike.
"""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
#: Package folders scanned, each with the name it is imported under.
SOURCES: dict[str, str] = {"fcdmbench": "fcdmbench", "baselines": "fcdmbench_baselines"}
#: Folders of loose scripts (each file a module named by its stem).
SCRIPTS = ("benchmarks",)
#: Whole functions longer than this are split up.
MAX_FUNCTION_LINES = 80
#: At most this many ``fcdmbench*`` modules are loaded by the `flops` command below.
MAX_FLOPS_MODULES = 40
FLOPS_COMMAND = ("flops", "--models", "fcdm-xl", "dit-xl")
#: Folders from top to bottom: a folder imports none above it (the diagram in docs/design.md).
#: Folders not listed (the low modules, `preflight`) are held only by the loop rule.
LAYERS = (
    "fcdmbench.cli",
    "fcdmbench.reporting",
    "fcdmbench.sampling",
    "fcdmbench.perfmodel",
    "fcdmbench.evaluation",
    "fcdmbench.throughput",
    "fcdmbench.flops",
    "fcdmbench_baselines",
    "fcdmbench.models",
    "fcdmbench.records",
    "fcdmbench.registry",
    "fcdmbench.catalog",
)
#: Import cycles still to be broken: the modules of each strongly connected component.
KNOWN_CYCLES: set[frozenset[str]] = set()
#: Folder loops still to be broken: the folders of each strongly connected component.
KNOWN_FOLDER_LOOPS: set[frozenset[str]] = set()
#: Functions still over `MAX_FUNCTION_LINES` (path relative to the repository, function name).
KNOWN_LONG: set[tuple[str, str]] = set()
_IMPORTERS = {"import_module", "__import__"}


def _modules(root: Path = ROOT) -> dict[str, Path]:
    """Module name -> file, for every scanned source file under `root`."""
    found = {}
    for folder, package in SOURCES.items():
        for path in sorted((root / folder).rglob("*.py")):
            parts = [package, *path.relative_to(root / folder).with_suffix("").parts]
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    for folder in SCRIPTS:
        for path in sorted((root / folder).glob("*.py")):
            found[path.stem] = path
    return found


def folder_of(module: str, path: Path, root: Path = ROOT) -> str:
    """The folder node of a module (see the module docstring)."""
    top = path.relative_to(root).parts[0]
    if top != "fcdmbench":
        return SOURCES.get(top, top)
    parts = module.split(".")
    return ".".join(parts[:2])


def _constants(tree: ast.Module) -> dict[str, list[str]]:
    """Module-level names bound to a string or a tuple/list of strings, and loop variables
    iterating over such a name (a module's ``for m in MODULES: import_module(m)``)."""
    consts: dict[str, list[str]] = {}
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        value = getattr(node, "value", None)
        if not isinstance(target, ast.Name) or value is None:
            continue
        items = value.elts if isinstance(value, ast.Tuple | ast.List) else [value]
        strings = [i.value for i in items if isinstance(i, ast.Constant)]
        if strings and all(isinstance(s, str) for s in strings):
            consts[target.id] = strings
    for node in ast.walk(tree):
        if isinstance(node, ast.For) and isinstance(node.target, ast.Name):
            if isinstance(node.iter, ast.Name) and node.iter.id in consts:
                consts.setdefault(node.target.id, consts[node.iter.id])
    return consts


def _dynamic_names(node: ast.Call, consts: dict[str, list[str]], known: set[str]) -> list[str]:
    """The modules an ``importlib.import_module(...)``/``__import__(...)`` call names."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name not in _IMPORTERS or not node.args:
        return []
    arg = node.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return [arg.value]
    if isinstance(arg, ast.Name):
        return consts.get(arg.id, [])
    if isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
        prefix = arg.values[0].value
        return [m for m in known if m.startswith(prefix)] if prefix else []
    return []


def _static_names(module: str, is_package: bool, node: ast.AST, known: set[str]) -> list[str]:
    """The module names one ``import``/``from ... import`` statement loads."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        here = module.split(".") if is_package else module.split(".")[:-1]
        anchor = here[: len(here) - node.level + 1]
        base = ".".join(anchor + ([node.module] if node.module else []))
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the scanned modules it imports (anywhere in its source, by name included)."""
    modules = _modules(root)
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text())
        consts = _constants(tree)
        found = set()
        for node in ast.walk(tree):
            names = _static_names(module, path.name == "__init__.py", node, known)
            if isinstance(node, ast.Call):
                names = _dynamic_names(node, consts, known)
            for name in names:
                while name not in known and "." in name:
                    name = name.rsplit(".", 1)[0]
                if name in known and name != module:
                    found.add(name)
        graph[module] = found
    return graph


def folder_graph(graph: dict[str, set[str]], root: Path = ROOT) -> dict[str, set[str]]:
    """Folder -> the other folders its modules import."""
    modules = _modules(root)
    folder = {m: folder_of(m, p, root) for m, p in modules.items()}
    out: dict[str, set[str]] = {f: set() for f in folder.values()}
    for module, targets in graph.items():
        out[folder[module]] |= {folder[t] for t in targets} - {folder[module]}
    return out


def upward_imports(folders: dict[str, set[str]], layers=LAYERS) -> set[tuple[str, str]]:
    """(folder, folder above it in `layers` that it imports)."""
    rank = {name: i for i, name in enumerate(layers)}
    return {
        (source, target)
        for source, targets in folders.items()
        for target in targets
        if source in rank and target in rank and rank[target] < rank[source]
    }


def strong_components(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected components of more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: set[frozenset[str]] = set()

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
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


def function_lines(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of a whole function: first decorator (or ``def``) to last line."""
    first = min([fn.lineno, *(d.lineno for d in fn.decorator_list)])
    return fn.end_lineno - first + 1


def long_functions(root: Path = ROOT) -> dict[tuple[str, str], int]:
    """(path, function) -> lines, for every function longer than `MAX_FUNCTION_LINES`."""
    found = {}
    for path in _modules(root).values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = function_lines(node)
                if lines > MAX_FUNCTION_LINES:
                    found[(path.relative_to(root).as_posix(), node.name)] = lines
    return found


@functools.cache
def _repository_graph() -> dict[str, set[str]]:
    return import_graph()


def _check_known(found: set, known: set, what: str, where: str) -> None:
    new = sorted(", ".join(sorted(c)) for c in found - known)
    assert not new, f"{what}: {new}"
    gone = sorted(", ".join(sorted(c)) for c in known - found)
    assert not gone, f"broken already, remove from {where}: {gone}"


def test_no_import_cycles():
    _check_known(
        strong_components(_repository_graph()), KNOWN_CYCLES, "import cycles", "KNOWN_CYCLES"
    )


def test_no_loops_between_folders():
    loops = strong_components(folder_graph(_repository_graph()))
    _check_known(loops, KNOWN_FOLDER_LOOPS, "folders importing each other", "KNOWN_FOLDER_LOOPS")


def test_layers_import_only_downwards():
    up = upward_imports(folder_graph(_repository_graph()))
    assert not up, f"imports against LAYERS (folder -> folder above it): {sorted(up)}"


def test_layer_checker_sees_an_upward_import():
    folders = {"fcdmbench.flops": {"fcdmbench.records", "fcdmbench.throughput", "fcdmbench.env"}}
    assert upward_imports(folders) == {("fcdmbench.flops", "fcdmbench.throughput")}


def test_no_long_functions():
    found = long_functions()
    new = sorted(f"{p}:{f} ({n} lines)" for (p, f), n in found.items() if (p, f) not in KNOWN_LONG)
    assert not new, f"functions over {MAX_FUNCTION_LINES} lines (split them): {new}"
    gone = sorted(KNOWN_LONG - set(found))
    assert not gone, f"now short enough, remove from KNOWN_LONG: {gone}"


def test_flops_command_loads_few_modules():
    """The real command in a fresh interpreter; the ``fcdmbench*`` modules loaded at its end."""
    code = (
        "import sys\nfrom fcdmbench.cli.main import run\n"
        f"sys.argv = ['fcdmbench', *{FLOPS_COMMAND!r}]\n"
        "try:\n    run()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('fcdmbench'))\n"
        "print('\\n'.join(loaded), file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    loaded = [line for line in out.stderr.splitlines() if line.startswith("fcdmbench")]
    assert "fcdmbench.flops.counter" in loaded, "the command did not count"  # it did run
    assert len(loaded) <= MAX_FLOPS_MODULES, f"{len(loaded)} modules: {loaded}"


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_cycle_finder_sees_function_level_relative_and_by_name_imports(tmp_path):
    """A cycle closed only by an import inside a function, or only by `importlib`, is found;
    an import of a name built at run time (not a constant) is not guessed at."""
    root = _write(
        tmp_path,
        {
            "fcdmbench/__init__.py": "",
            "fcdmbench/sub/__init__.py": "",
            "fcdmbench/a.py": "from fcdmbench.sub import b\n",
            "fcdmbench/sub/b.py": "def f():\n    from .. import a\n",
            "fcdmbench/c.py": "import fcdmbench.a\n",
            "fcdmbench/reg.py": "import importlib\nMODS = ('fcdmbench.cat.x',)\n"
            "def load():\n    for m in MODS:\n        importlib.import_module(m)\n",
            "fcdmbench/cat/__init__.py": "",
            "fcdmbench/cat/x.py": "from fcdmbench.reg import load\n",
            "fcdmbench/d.py": "def f(n):\n    __import__(f'fcdmbench.e{n}')\n",
            "fcdmbench/e1.py": "import fcdmbench.d\n",
            "fcdmbench/g.py": "import importlib\ndef f(n):\n    importlib.import_module(n)\n",
            "baselines/__init__.py": "",
            "baselines/m.py": "import fcdmbench.sub.b\n",
            "benchmarks/bench_x.py": "import bench_y\nimport fcdmbench_baselines.m\n",
            "benchmarks/bench_y.py": "import bench_x\n",
        },
    )
    graph = import_graph(root)
    assert graph["fcdmbench.g"] == set()
    assert strong_components(graph) == {
        frozenset({"fcdmbench.a", "fcdmbench.sub.b"}),
        frozenset({"fcdmbench.reg", "fcdmbench.cat.x"}),
        frozenset({"fcdmbench.d", "fcdmbench.e1"}),
        frozenset({"bench_x", "bench_y"}),
    }
    assert strong_components(folder_graph(graph, root)) == {
        frozenset({"fcdmbench.a", "fcdmbench.sub"}),
        frozenset({"fcdmbench.reg", "fcdmbench.cat"}),
        frozenset({"fcdmbench.d", "fcdmbench.e1"}),
    }
    assert folder_graph(graph, root)["benchmarks"] == {"fcdmbench_baselines"}


def test_folder_loop_finder_sees_loops_that_no_module_cycle_closes(tmp_path):
    """Two folders reaching each other through different modules: no module cycle, one loop."""
    root = _write(
        tmp_path,
        {
            "fcdmbench/__init__.py": "",
            "fcdmbench/p/__init__.py": "",
            "fcdmbench/p/one.py": "from fcdmbench.q.three import x\n",
            "fcdmbench/p/two.py": "",
            "fcdmbench/q/__init__.py": "",
            "fcdmbench/q/four.py": "from fcdmbench.p import two\n",
            "fcdmbench/q/three.py": "",
        },
    )
    graph = import_graph(root)
    assert strong_components(graph) == set()
    assert strong_components(folder_graph(graph, root)) == {
        frozenset({"fcdmbench.p", "fcdmbench.q"})
    }


def test_long_function_finder_counts_decorators_and_docstring(tmp_path):
    body = "    x = 1\n" * (MAX_FUNCTION_LINES - 3)
    doc = '    """\n    """\n'
    root = _write(
        tmp_path,
        {
            "fcdmbench/m.py": f"def fits():\n{doc}{body}\n\n@app.command()\n"
            f"def long():\n{doc}{body}",
            "baselines/n.py": f"def long():\n{doc}{body}    return x\n",
        },
    )
    assert long_functions(root) == {
        ("fcdmbench/m.py", "long"): MAX_FUNCTION_LINES + 1,
        ("baselines/n.py", "long"): MAX_FUNCTION_LINES + 1,
    }

"""rnnrtl's import graph: no cycles (lazy imports included), no private names across modules.

The graph is read from the source by AST, not by importing: every ``import`` and ``from ... import``
anywhere in a module (module level, function and class bodies, ``if`` / ``try`` blocks) is an edge.
Its nodes are the modules of the ``rnnrtl`` package plus the repository folders shipped inside it
(``pyproject.toml``'s ``package-dir``, e.g. ``sim/`` as ``rnnrtl.sim``; ``platforms/`` is mapped to
``rnnrtl.platforms`` as well, and a top-level ``import platforms`` / ``import sim`` resolves to
it, so a ``sys.path`` shortcut to those folders is an edge like any other).

How an import becomes an edge (to the most specific module the source names):

* ``import a.b.c`` -> ``a.b.c``; ``from a.b import c`` -> ``a.b.c`` when that is a module, else
  ``a.b`` (a name defined in ``a/b.py`` or ``a/b/__init__.py``); relative imports are resolved
  against the importing module's package first. ``importlib.import_module("a.b")`` and
  ``__import__("a.b")`` with a literal name count as ``import a.b``.
* The ``__init__`` of the packages above a module (run first by Python) are not added as edges:
  each package's ``__init__`` has its own edges. An explicit import of a package (``from . import
  __version__``) is an edge to its ``__init__``.

The walker is tested on small synthetic packages too (:func:`test_walker_finds_a_lazy_cycle` ...),
so that a pass on rnnrtl means no cycle, not a blind walker.
"""

from __future__ import annotations

import ast
import textwrap
import tomllib
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "rnnrtl"
#: Repository folders that ship inside the package (pyproject's package-dir adds to these).
SHIPPED = {"rnnrtl.sim": "sim", "rnnrtl.platforms": "platforms"}


# -- the walker ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    path: Path
    line: int
    lazy: bool       # inside a function body

    def __str__(self):
        where = "in a function" if self.lazy else "module level"
        return f"{self.source} -> {self.target} ({self.path.name}:{self.line}, {where})"


@dataclass(frozen=True)
class PrivateUse:
    source: str
    target: str
    name: str
    path: Path
    line: int

    def __str__(self):
        return f"{self.source} uses {self.target}.{self.name} ({self.path.name}:{self.line})"


def package_roots(root: Path = ROOT, package: str = PACKAGE) -> dict[str, Path]:
    """``{package name: folder}``: the package and every folder mapped into it (only those that
    exist)."""
    mapping = {package: package, **SHIPPED}
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        setuptools = tomllib.loads(pyproject.read_text()).get("tool", {}).get("setuptools", {})
        mapping.update(setuptools.get("package-dir", {}))
    return {name: root / folder for name, folder in mapping.items()
            if name.split(".")[0] == package and (root / folder / "__init__.py").is_file()}


def discover(roots: dict[str, Path]) -> dict[str, Path]:
    """``{module name: file}`` of every module under ``roots`` (packages: their ``__init__.py``)."""
    modules = {}
    for name, folder in roots.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if any(not (folder.joinpath(*parts[:k]) / "__init__.py").is_file()
                   for k in range(len(parts))):
                continue   # a script or data folder that is not part of the package
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join((name,) + parts)] = path
    return modules


def aliases(roots: dict[str, Path], root: Path = ROOT) -> dict[str, str]:
    """Top-level names by which a shipped repository folder can also be imported (``platforms``
    from a checkout on ``sys.path``) -> the package name it has."""
    out = {}
    for name, folder in roots.items():
        if folder.parent == root and folder.name != name:
            out[folder.name] = name
    return out


class Graph:
    """The import edges and private-name uses of ``modules``."""

    def __init__(self, modules: dict[str, Path], alias: dict[str, str] | None = None):
        self.modules = modules
        self.alias = alias or {}
        self.packages = {m for m, p in modules.items() if p.name == "__init__.py"}
        self.edges: list[Edge] = []
        self.private: list[PrivateUse] = []
        for name, path in modules.items():
            self._read(name, path)

    # names ---------------------------------------------------------------------------------------

    def _canonical(self, dotted: str) -> str:
        head, _, rest = dotted.partition(".")
        if head in self.alias:
            return self.alias[head] + ("." + rest if rest else "")
        return dotted

    def _known(self, dotted: str) -> str | None:
        """The longest prefix of ``dotted`` that is one of our modules, or None (not ours)."""
        parts = dotted.split(".")
        for k in range(len(parts), 0, -1):
            if ".".join(parts[:k]) in self.modules:
                return ".".join(parts[:k])
        return None

    def _base(self, source: str, level: int, module: str | None) -> str:
        package = source if source in self.packages else source.rpartition(".")[0]
        parts = package.split(".")
        if level > 1:
            parts = parts[:len(parts) - (level - 1)]
        base = ".".join(parts)
        return f"{base}.{module}" if module else base

    # reading -------------------------------------------------------------------------------------

    def _read(self, source: str, path: Path):
        tree = ast.parse(path.read_text(), filename=str(path))
        lazy_lines = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                lazy_lines.update(id(n) for n in ast.walk(node) if n is not node)
        module_names: dict[str, str] = {}     # local name -> our module it is bound to
        for node in ast.walk(tree):
            lazy = id(node) in lazy_lines
            if isinstance(node, ast.Call) and _dynamic_import(node):
                name = node.args[0].value
                if name.startswith("."):
                    level = len(name) - len(name.lstrip("."))
                    name = self._base(source, level, name.lstrip(".") or None)
                target = self._known(self._canonical(name))
                if target is not None:
                    self._edge(source, target, path, node.lineno, lazy)
            elif isinstance(node, ast.Import):
                for a in node.names:
                    target = self._known(self._canonical(a.name))
                    if target is None:
                        continue
                    self._edge(source, target, path, node.lineno, lazy)
                    if a.asname:
                        module_names[a.asname] = target
            elif isinstance(node, ast.ImportFrom):
                base = self._base(source, node.level, node.module) if node.level else \
                    self._canonical(node.module or "")
                owner = self._known(base)
                if owner is None:
                    continue
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    if sub in self.modules:                     # a submodule
                        self._edge(source, sub, path, node.lineno, lazy)
                        module_names[a.asname or a.name] = sub
                        if _private(a.name) and not source.startswith(base + "."):
                            self.private.append(PrivateUse(source, base, a.name, path, node.lineno))
                        continue
                    self._edge(source, owner, path, node.lineno, lazy)
                    if _private(a.name):
                        self.private.append(PrivateUse(source, owner, a.name, path, node.lineno))
        for node in ast.walk(tree):   # mod._name on a module bound above
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in module_names and _private(node.attr):
                target = module_names[node.value.id]
                if target != source:
                    self.private.append(PrivateUse(source, target, node.attr, path, node.lineno))

    def _edge(self, source, target, path, line, lazy):
        if target != source:
            self.edges.append(Edge(source, target, path, line, lazy))

    # cycles --------------------------------------------------------------------------------------

    def adjacency(self) -> dict[str, dict[str, Edge]]:
        out: dict[str, dict[str, Edge]] = {m: {} for m in self.modules}
        for e in self.edges:
            out[e.source].setdefault(e.target, e)    # the first import of each pair
        return out

    def cycles(self) -> list[list[Edge]]:
        """One shortest cycle per strongly connected component of more than one module (a
        component is printed with all its modules by :func:`describe`)."""
        adj = self.adjacency()
        found = []
        for component in _components(adj):
            if len(component) < 2:
                continue
            start = min(component)
            found.append(_shortest_cycle(adj, start, component))
        return found

    def components(self) -> list[list[str]]:
        return [sorted(c) for c in _components(self.adjacency()) if len(c) > 1]


def _dynamic_import(call: ast.Call) -> bool:
    """``importlib.import_module("literal", ...)`` or ``__import__("literal", ...)``."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return name in ("import_module", "__import__") and bool(call.args) \
        and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _components(adj: dict[str, dict]) -> list[set[str]]:
    """Tarjan's strongly connected components (iterative)."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = 0
    for root in sorted(adj):
        if root in index:
            continue
        work = [(root, iter(sorted(adj[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(adj[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    out.append(component)
    return out


def _shortest_cycle(adj, start: str, within: set[str]) -> list[Edge]:
    """The shortest path of edges from ``start`` back to itself inside ``within`` (BFS)."""
    previous: dict[str, Edge] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(adj[node]):
            if child not in within:
                continue
            edge = adj[node][child]
            if child == start:
                path = [edge]
                while path[0].source != start:
                    path.insert(0, previous[path[0].source])
                return path
            if child not in previous:
                previous[child] = edge
                queue.append(child)
    raise AssertionError(f"{start} is in a component but on no cycle")


def describe(graph: Graph) -> str:
    lines = []
    for component, cycle in zip(graph.components(), _cycles_by_component(graph)):
        lines.append(f"cycle among {', '.join(component)}:")
        lines += [f"    {edge}" for edge in cycle]
    return "\n".join(lines)


def _cycles_by_component(graph: Graph):
    adj = graph.adjacency()
    return [_shortest_cycle(adj, min(c), set(c)) for c in graph.components()]


def rnnrtl_graph() -> Graph:
    roots = package_roots()
    return Graph(discover(roots), aliases(roots))


# -- rnnrtl ----------------------------------------------------------------------------------------

def test_rnnrtl_has_no_import_cycles():
    graph = rnnrtl_graph()
    assert len(graph.modules) > 20 and graph.edges      # the walker saw the package
    cycles = graph.components()
    assert not cycles, "import cycles (lazy imports included):\n" + describe(graph)


def test_no_private_names_imported_across_modules():
    graph = rnnrtl_graph()
    assert not graph.private, "private names used across modules:\n" + \
        "\n".join(f"    {p}" for p in graph.private)


def test_shipped_folders_are_nodes():
    """``sim/`` is walked as ``rnnrtl.sim`` (and ``platforms/`` as ``rnnrtl.platforms`` when it
    is a package folder of the repository)."""
    modules = discover(package_roots())
    assert "rnnrtl.sim.testbench" in modules
    if (ROOT / "platforms" / "__init__.py").is_file():
        assert "rnnrtl.platforms" in modules


# -- the walker on synthetic packages --------------------------------------------------------------

def _package(tmp_path: Path, files: dict[str, str], name: str = "pkg") -> Graph:
    for rel, text in files.items():
        path = tmp_path / name / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    for folder in [tmp_path / name, *(p for p in (tmp_path / name).rglob("*") if p.is_dir())]:
        (folder / "__init__.py").touch()
    return Graph(discover({name: tmp_path / name}))


def test_walker_finds_a_lazy_cycle(tmp_path):
    graph = _package(tmp_path, {
        "a.py": "from .b import thing\n",
        "b.py": "thing = 1\ndef f():\n    from . import a\n    return a\n",
    })
    assert graph.components() == [["pkg.a", "pkg.b"]]
    text = describe(graph)
    assert "pkg.a -> pkg.b (a.py:1, module level)" in text
    assert "pkg.b -> pkg.a (b.py:3, in a function)" in text


def test_walker_resolves_absolute_relative_and_submodule_imports(tmp_path):
    graph = _package(tmp_path, {
        "a.py": "import pkg.sub.c\n",
        "sub/c.py": "from .. import d\n",
        "d.py": "def f():\n    from pkg.sub import e\n",
        "sub/e.py": "from ..a import x\nimport os\n",
    })
    edges = {(e.source, e.target) for e in graph.edges}
    assert edges == {("pkg.a", "pkg.sub.c"), ("pkg.sub.c", "pkg.d"), ("pkg.d", "pkg.sub.e"),
                     ("pkg.sub.e", "pkg.a")}
    assert graph.components() == [["pkg.a", "pkg.d", "pkg.sub.c", "pkg.sub.e"]]
    assert [len(c) for c in graph.cycles()] == [4]


def test_walker_passes_an_acyclic_package(tmp_path):
    graph = _package(tmp_path, {
        "__init__.py": "from .a import run\n__version__ = '1'\n",
        "a.py": "from .b import helper\ndef run():\n    from .sub import c\n    return c\n",
        "b.py": "import json\nhelper = json.dumps\n",
        "sub/c.py": "from ..b import helper\nfrom pkg import b\n",
    })
    assert graph.edges and not graph.components() and not graph.cycles()
    assert not graph.private


def test_walker_counts_an_import_of_the_package_init(tmp_path):
    """``from . import __version__`` reaches the package's ``__init__``, which imports the module."""
    graph = _package(tmp_path, {
        "__init__.py": "from .a import run\n__version__ = '1'\n",
        "a.py": "def run():\n    from . import __version__\n    return __version__\n",
    })
    assert graph.components() == [["pkg", "pkg.a"]]


def test_walker_finds_private_names(tmp_path):
    graph = _package(tmp_path, {
        "a.py": "def _helper():\n    pass\n_TABLE = {}\n",
        "b.py": "from .a import _helper\n",
        "c.py": "from . import a\nx = a._TABLE\n",
        "d.py": "from .a import __doc__ as doc\n",
    })
    assert sorted(map(str, graph.private)) == ["pkg.b uses pkg.a._helper (b.py:1)",
                                               "pkg.c uses pkg.a._TABLE (c.py:2)"]


def test_walker_maps_a_shipped_folder_and_its_top_level_name(tmp_path):
    """A folder shipped as ``pkg.boards`` and imported by ``pkg`` as top-level ``boards`` (via
    ``sys.path``) is one node: the cycle through it is found."""
    for rel, text in {"pkg/__init__.py": "", "pkg/build.py": "def t():\n    import boards\n",
                      "boards/__init__.py": "from pkg.build import t\n"}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    roots = {"pkg": tmp_path / "pkg", "pkg.boards": tmp_path / "boards"}
    graph = Graph(discover(roots), aliases(roots, tmp_path))
    assert graph.components() == [["pkg.boards", "pkg.build"]]


def test_walker_sees_import_module_with_a_literal_name(tmp_path):
    graph = _package(tmp_path, {
        "a.py": "import importlib\ndef f():\n    return importlib.import_module('pkg.b')\n",
        "b.py": "from importlib import import_module\nc = import_module('.c', __package__)\n",
        "c.py": "def g():\n    return __import__('pkg.a')\n",
    })
    assert {(e.source, e.target) for e in graph.edges} == \
        {("pkg.a", "pkg.b"), ("pkg.b", "pkg.c"), ("pkg.c", "pkg.a")}
    assert graph.components() == [["pkg.a", "pkg.b", "pkg.c"]]


@pytest.mark.parametrize("source", ["import pkg.a as mod\nmod._x\n", "from pkg import a\na._x\n"])
def test_walker_sees_private_attributes_of_an_imported_module(tmp_path, source):
    graph = _package(tmp_path, {"a.py": "_x = 1\n", "b.py": source})
    assert [str(p) for p in graph.private] == ["pkg.b uses pkg.a._x (b.py:2)"]

"""The package's shape: one top-level package, imports that point one way
(no circle among keras_mi's modules), small modules, no `sys.path` edits.
docs/architecture.md draws the layers these tests hold."""

import ast
import pathlib
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "keras_mi"


def _modules():
    """{dotted name: path} of every module of keras_mi."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _imported(node, module, modules):
    """The keras_mi modules an import statement names. `from package import
    submodule` names the submodule (its package runs first in any case, as
    for every import); `from package import name` names the package."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module if modules[module].name == "__init__.py" else module.rsplit(".", 1)[0]
        for _ in range(node.level - 1):
            package = package.rsplit(".", 1)[0]
        base = f"{package}.{base}" if base else package
    submodules = [f"{base}.{alias.name}" for alias in node.names
                  if f"{base}.{alias.name}" in modules]
    return submodules if len(submodules) == len(node.names) else [base, *submodules]


def import_graph():
    """{module: set of keras_mi modules it imports}, imports inside
    functions included: a circle through a deferred import is a circle in
    the design all the same."""
    modules = _modules()
    graph = {}
    for module, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                targets.update(t for t in _imported(node, module, modules)
                               if t in modules and t != module)
        graph[module] = targets
    return graph


def circles(graph):
    """The strongly connected components of more than one module."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_circle_finder_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_in_the_package():
    graph = import_graph()
    assert "keras_mi.cli" in graph and "keras_mi.layers.mi_lstm" in graph
    assert circles(graph) == []


def test_one_top_level_package_is_distributed():
    configuration = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = configuration["tool"]["setuptools"]["packages"]["find"]["include"]
    import setuptools

    packages = setuptools.find_packages(str(ROOT), include=include)
    assert packages and {p.split(".")[0] for p in packages} == {"keras_mi"}
    scripts = configuration["project"]["scripts"]
    assert all(target.startswith("keras_mi.") for target in scripts.values())


MAX_LINES = 500


def test_no_module_of_the_package_is_over_500_lines():
    long = {str(path.relative_to(ROOT)): count
            for path in PACKAGE.rglob("*.py")
            if (count := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_no_python_file_edits_sys_path():
    """The experiments are a package (`python -m examples.paper.NAME`), the
    benchmarks load a sibling by its path: nothing imports by editing
    `sys.path`."""
    edits = []
    for folder in ("keras_mi", "examples", "benchmarks", "tests", "scripts"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if (isinstance(node, ast.Attribute) and node.attr == "path"
                        and isinstance(node.value, ast.Name) and node.value.id == "sys"):
                    edits.append(str(path.relative_to(ROOT)))
                    break
    assert edits == []


SOURCE_FOLDERS = ("keras_mi", "examples", "benchmarks", "scripts", "tests", "docs", ".ci")


def test_no_source_file_is_ignored_by_git():
    """A clean clone holds only what git tracks: a source file that an ignore
    rule hides (`runs/` once hid the `keras_mi.runs` package) works here and
    is missing there. Run where the checkout is a git repository."""
    import shutil
    import subprocess

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        import pytest

        pytest.skip("not a git checkout")
    listed = subprocess.run(
        ["git", "ls-files", "--others", "--ignored", "--exclude-standard", "--", *SOURCE_FOLDERS],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    hidden = [p for p in listed
              if "__pycache__" not in p and ".egg-info" not in p and not p.endswith(".pyc")]
    assert hidden == []

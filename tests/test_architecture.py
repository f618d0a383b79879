"""Architecture rules of the packages physics, geometry, mc and flash, checked on their source
(``ast``, nothing is imported):

* the module import graph has no cycle (every import counts: at module level or inside a
  function, absolute or relative);
* flash sits above the engine: no module of flash imports mc.run, and the only module of mc
  that imports flash is mc.run (the command line, which drives the engine and the FLASH
  analysis);
* no function, nested ones included, is longer than MAX_FUNCTION_LINES lines, except those in
  ALLOWED_LONG_FUNCTIONS.
"""

import ast
import glob
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("physics", "geometry", "mc", "flash")
MAX_FUNCTION_LINES = 150

#: Functions allowed to exceed MAX_FUNCTION_LINES, as "module.qualified_name": the voxel walk of a
#: step, whose per-segment deposit is written out in its two loops (measured necessary: as a
#: stage of its own the kernel with the optional tallies was 4 % slower).
ALLOWED_LONG_FUNCTIONS = {
    "mc.kernel.walk.walk_step",
}


def package_modules(root=ROOT, packages=PACKAGES):
    """{module name: path} of every .py file of ``packages`` (subpackages included)."""
    out = {}
    for pkg in packages:
        for d, dirs, files in os.walk(os.path.join(root, pkg)):
            dirs[:] = sorted(x for x in dirs if not x.startswith((".", "__pycache__")))
            for f in sorted(files):
                if not f.endswith(".py"):
                    continue
                parts = os.path.relpath(os.path.join(d, f), root)[:-3].split(os.sep)
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                out[".".join(parts)] = os.path.join(d, f)
    return out


def _parse(path):
    with open(path, encoding="utf-8") as f:
        return ast.parse(f.read(), filename=path)


def _resolve(name, modules):
    """The longest prefix of the dotted ``name`` that is one of ``modules`` (None if none)."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        cand = ".".join(parts[:i])
        if cand in modules:
            return cand
    return None


def imports_of(module, path, modules):
    """The modules of ``modules`` that ``module`` (source file ``path``) imports, anywhere in
    the file: ``import a.b``, ``from a import b`` (a.b if it is a module, else a) and relative
    imports."""
    tree = _parse(path)
    is_package = os.path.basename(path) == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _resolve(alias.name, modules)
                if target is not None:
                    out.add(target)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: level 1 is the module's package, 2 its parent, ...
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1])
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module
            for alias in node.names:
                target = _resolve(f"{mod}.{alias.name}", modules) if alias.name != "*" else None
                if target != f"{mod}.{alias.name}":  # a name defined in mod, not a submodule
                    target = _resolve(mod, modules)
                if target is not None:
                    out.add(target)
    out.discard(module)
    return out


def import_graph(root=ROOT, packages=PACKAGES):
    modules = package_modules(root, packages)
    return {m: imports_of(m, p, modules) for m, p in modules.items()}


def find_cycle(graph):
    """One import cycle of ``graph`` as a list of modules (first == last), or None."""
    state = {}  # 1: on the current path, 2: done
    path = []

    def visit(m):
        state[m] = 1
        path.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return path[path.index(n):] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        path.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def mc_flash_violations(graph):
    """Imports that break the rule: flash never imports mc.run, and only mc.run imports flash."""
    bad = []
    for m, deps in sorted(graph.items()):
        for d in sorted(deps):
            if m.split(".")[0] == "flash" and d == "mc.run":
                bad.append(f"{m} imports mc.run")
            if m.split(".")[0] == "mc" and m != "mc.run" and d.split(".")[0] == "flash":
                bad.append(f"{m} imports {d} (only mc.run may import flash)")
    return bad


def long_functions(root=ROOT, packages=PACKAGES, limit=MAX_FUNCTION_LINES, allowed=()):
    """"path:line module.qualified_name (n lines)" of every function longer than ``limit``
    lines that is not in ``allowed``."""
    out = []
    for module, path in package_modules(root, packages).items():
        tree = _parse(path)

        def walk(node, prefix):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    name = f"{prefix}.{child.name}"
                    n = child.end_lineno - child.lineno + 1
                    if not isinstance(child, ast.ClassDef) and n > limit and name not in allowed:
                        out.append(f"{os.path.relpath(path, root)}:{child.lineno} {name} ({n} lines)")
                    walk(child, name)
                else:
                    walk(child, prefix)

        walk(tree, module)
    return out


def test_the_module_graph_has_no_import_cycle():
    graph = import_graph()
    assert "mc.config" in graph["mc.run"]  # the imports were found
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_flash_sits_above_the_engine():
    bad = mc_flash_violations(import_graph())
    assert not bad, "mc/flash layering broken: " + "; ".join(bad)


def test_no_function_is_longer_than_the_limit():
    bad = long_functions(allowed=ALLOWED_LONG_FUNCTIONS)
    assert not bad, f"functions longer than {MAX_FUNCTION_LINES} lines (split them): " + "; ".join(bad)


def test_the_checks_find_what_they_look_for(tmp_path):
    # a small tree with a cycle through a relative and a function-level import, a forbidden
    # import each way between mc and flash, and one long (nested) function
    files = {
        "mc/__init__.py": "",
        "mc/a.py": "from .b import x\n",
        "mc/b.py": "def f():\n    from mc import a\n",
        "mc/run.py": "import flash.curves\n",
        "mc/c.py": "def g():\n    def h():\n" + "        pass\n" * 200,
        "mc/d.py": "from flash import analysis\n",
        "flash/__init__.py": "",
        "flash/curves.py": "",
        "flash/analysis.py": "from mc.run import main\n",
    }
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(exist_ok=True)
        p.write_text(text)
    graph = import_graph(str(tmp_path), ("mc", "flash"))
    assert graph["mc.a"] == {"mc.b"} and graph["mc.b"] == {"mc.a"}
    assert find_cycle(graph) in (["mc.a", "mc.b", "mc.a"], ["mc.b", "mc.a", "mc.b"])
    assert mc_flash_violations(graph) == ["flash.analysis imports mc.run",
                                          "mc.d imports flash.analysis (only mc.run may import flash)"]
    found = long_functions(str(tmp_path), ("mc", "flash"))
    assert [f.split(" ")[1] for f in found] == ["mc.c.g", "mc.c.g.h"]
    assert long_functions(str(tmp_path), ("mc", "flash"), allowed={"mc.c.g", "mc.c.g.h"}) == []


def code_map_modules(readme_text):
    """The module paths (``pkg/.../name.py``) named in the README's "Code map" section."""
    start = readme_text.index("\n## Code map")
    end = readme_text.find("\n## ", start + 1)
    section = readme_text[start:end if end > 0 else None]
    return set(re.findall(r"`((?:%s)/[\w/]+\.py)`" % "|".join(PACKAGES), section))


def tree_modules(root=ROOT, packages=PACKAGES):
    """The module files of ``packages`` (package ``__init__.py`` files aside), as paths."""
    out = set()
    for pkg in packages:
        for path in glob.glob(os.path.join(root, pkg, "**", "*.py"), recursive=True):
            if os.path.basename(path) != "__init__.py":
                out.add(os.path.relpath(path, root).replace(os.sep, "/"))
    return out


def test_the_readme_code_map_matches_the_tree():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        listed = code_map_modules(f.read())
    present = tree_modules()
    assert not listed - present, f"the code map names modules that do not exist: {sorted(listed - present)}"
    assert not present - listed, f"modules missing from the README's code map: {sorted(present - listed)}"
    # (and the check itself sees a missing and an extra module)
    text = "intro\n## Code map\n`mc/run.py`, `mc/gone.py`\n## Next\n`mc/later.py`\n"
    assert code_map_modules(text) == {"mc/run.py", "mc/gone.py"}

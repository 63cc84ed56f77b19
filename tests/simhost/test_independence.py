"""simhost/ is a test double that can disagree with the code it tests: it imports nothing from
agent/, monitor/ or protocol/, its modules import each other without cycles, and none is much
over 500 lines."""
import ast
from pathlib import Path

import buildbot_vkckpt.simhost as simhost

PKG = Path(simhost.__file__).parent
FORBIDDEN = ("buildbot_vkckpt.agent", "buildbot_vkckpt.monitor", "buildbot_vkckpt.protocol")


def imports(path):
    """(module-level?, absolute module name) of every import in ``path``."""
    tree = ast.parse(path.read_text())
    top = set(map(id, tree.body))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield id(node) in top, a.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = "buildbot_vkckpt" if node.level == 2 else "buildbot_vkckpt.simhost"
                mod = f"{base}.{node.module}" if node.module else base
                names = [f"{mod}.{a.name}" for a in node.names] if not node.module else [mod]
            else:
                names = [node.module]
            for name in names:
                yield id(node) in top, name


def test_no_code_of_the_tested_side():
    bad = [(p.name, name) for p in PKG.glob("*.py") for _, name in imports(p)
           if name.startswith(FORBIDDEN) or name in ("buildbot_vkckpt.agent",)]
    assert bad == []


def test_no_import_cycles_at_module_level():
    graph = {}
    for p in PKG.glob("*.py"):
        deps = set()
        for top, name in imports(p):
            if top and name.startswith("buildbot_vkckpt.simhost."):
                deps.add(name.split(".")[2])
        graph[p.stem] = deps

    def visit(node, path):
        for dep in graph.get(node, ()):
            assert dep not in path, f"import cycle: {' -> '.join(path + [dep])}"
            visit(dep, path + [dep])
    for mod in graph:
        visit(mod, [mod])


def test_modules_stay_small():
    big = {p.name: n for p in PKG.glob("*.py") if (n := len(p.read_text().splitlines())) > 520}
    assert big == {}

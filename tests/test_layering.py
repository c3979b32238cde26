"""The package's layers, read from its import statements (every `import` and `from .. import`,
at any depth: a function-level import is a dependency too).

- adrs_spec.lang (the IR, the operator table, statics, concrete evaluation, printing) imports
  only itself and adrs_spec.errors: every other part builds on it, it builds on none;
- each backend (adrs_spec.backends.<name>) imports lang, its own package and the small shared
  modules (errors, bounded), never another backend, the frontend, workloads, the sandbox,
  the runtime or the commands;
- the frontend imports lang and itself (and errors, files): it produces IR, nothing more;
- no two modules import each other, directly or around a longer cycle.
"""
import ast
import os

from conftest import ROOT

PACKAGE = os.path.join(ROOT, "adrs_spec")
RUNTIME = os.path.join(ROOT, "runtime")          # installed as adrs_spec.runtime


def _modules() -> dict[str, str]:
    """Module name -> file, for adrs_spec and its installed runtime subpackage."""
    out = {}
    for base, prefix in ((PACKAGE, "adrs_spec"), (RUNTIME, "adrs_spec.runtime")):
        for folder, _, files in os.walk(base):
            for f in files:
                if not f.endswith(".py"):
                    continue
                rel = os.path.relpath(os.path.join(folder, f), base)[:-3].replace(os.sep, ".")
                name = prefix if rel == "__init__" else f"{prefix}.{rel.removesuffix('.__init__')}"
                out[name] = os.path.join(folder, f)
    return out


MODULES = _modules()


def _imports(name: str, path: str) -> set[str]:
    """The adrs_spec modules `name` imports (a `from package import module` names the module)."""
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read(), path)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for a in node.names:
                found.add(f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base)
    return {m for m in found if m == "adrs_spec" or m.startswith("adrs_spec.")}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _part(module: str) -> str:
    """The layer a module belongs to: `lang`, `backends.<name>`, `frontend`, ... or the module."""
    parts = module.split(".")[1:]
    if not parts:
        return "adrs_spec"
    if parts[0] == "backends" and len(parts) > 1:
        return "backends." + parts[1]
    return parts[0]


def _violations(allowed) -> list[str]:
    return sorted(f"{m} imports {d}" for m, deps in GRAPH.items() for d in deps
                  if _part(d) != _part(m) and d != "adrs_spec" and not allowed(_part(m), _part(d)))


def test_the_modules_are_found():
    assert {"adrs_spec.lang.ir", "adrs_spec.lang.operators", "adrs_spec.frontend.check",
            "adrs_spec.backends.z3.encode", "adrs_spec.runtime.loop"} <= set(MODULES)
    assert "adrs_spec.lang.ir" in GRAPH["adrs_spec.frontend.check"]


def test_lang_builds_on_nothing_but_errors():
    assert _violations(lambda m, d: m != "lang" or d == "errors") == []


def test_each_backend_reads_lang_and_no_other_backend():
    shared = {"lang", "errors", "bounded"}
    backends = {_part(m) for m in MODULES if _part(m).startswith("backends.")}
    assert {"backends.reference", "backends.jax", "backends.z3"} <= backends
    assert _violations(lambda m, d: m not in backends or d in shared) == []


def test_the_frontend_produces_ir_and_imports_no_backend_workload_or_sandbox():
    assert _violations(lambda m, d: m != "frontend" or d in {"lang", "errors", "files"}) == []


def test_no_import_cycles():
    """Tarjan's strongly connected components: every one must be a single module."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH.get(v, ()):
            if w not in GRAPH:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert cycles == []

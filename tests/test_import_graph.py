"""The house (issue #16): no import circles in core or easy_oww_tui, no importlib dispatch, and screens reach the
app only through easy_oww_tui.services.AppServices."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "easy_oww_tui")


def product_modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for pkg in PACKAGES:
        for f in sorted((REPO / pkg).rglob("*.py")):
            name = ".".join(f.relative_to(REPO).with_suffix("").parts)
            mods[name.removesuffix(".__init__")] = f
    return mods


def import_graph() -> dict[str, set[str]]:
    """Every import between product modules, wherever it stands (top level, functions, TYPE_CHECKING)."""
    mods = product_modules()

    def resolve(target: str) -> str | None:
        while target and target not in mods:
            target = target.rpartition(".")[0]
        return target or None

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{a.name}" for a in node.names]
            for t in targets:
                hit = resolve(t)
                if hit and hit != name and not name.startswith(hit + "."):  # a package's own __init__ is no edge
                    graph[name].add(hit)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    graph = import_graph()
    assert len(graph) > 40 and graph["core.pipeline.orchestrator"]  # the walk sees the modules and their imports
    assert "core.pipeline.p1_clips.generator" in {m for deps in graph.values() for m in deps}
    assert cycles(graph) == []


def test_the_cycle_finder_finds_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_importlib_dispatch():
    """Phases and screens are imported by name where they are used, never looked up from strings."""
    offenders = []
    for name, path in product_modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                f = node.func
                called = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
                if called in ("import_module", "__import__"):
                    offenders.append(f"{name}:{node.lineno}")
    assert offenders == []


def test_phases_run_in_order_from_one_table():
    from core.pipeline.phases import PHASE_LABELS, PHASE_TITLES, PHASES, runner

    assert PHASES == ("clips", "augmentation", "features", "training", "export", "evaluation")
    assert set(PHASE_TITLES) == set(PHASE_LABELS) == set(PHASES)
    # the folder listing reads the pipeline's order: core/pipeline/p1_clips, p2_augmentation, ...
    folders = sorted(d.name for d in (REPO / "core" / "pipeline").iterdir() if d.is_dir() and d.name[0] == "p")
    assert folders == [f"p{i}_{name}" for i, name in enumerate(PHASES, 1)]
    assert [runner(p).__module__ for p in PHASES] == [f"core.pipeline.{d}.phase" for d in folders]


def test_screens_use_only_the_app_services():
    from easy_oww_tui.app import EasyOWWApp
    from easy_oww_tui.services import SERVICE_NAMES

    app = EasyOWWApp(deterministic=True)
    missing = [n for n in SERVICE_NAMES if not hasattr(app, n)]
    assert missing == []
    used: dict[str, str] = {}
    for path in sorted((REPO / "easy_oww_tui" / "screens").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
                    and node.value.attr == "app" and isinstance(node.value.value, ast.Name)
                    and node.value.value.id == "self"):
                used.setdefault(node.attr, f"{path.name}:{node.lineno}")
    unknown = {n: where for n, where in used.items() if n not in SERVICE_NAMES}
    assert unknown == {}, "screens use app attributes outside AppServices: " + repr(unknown)


def test_one_word_for_the_pipeline_steps():
    """Core and the app say "phase" (PhaseStarted, PhaseFinished, event.phase), never "stage"."""
    import re

    word = re.compile(r"(?<![A-Za-z0-9])stages?(?![a-z])", re.IGNORECASE)
    offenders = [f"{name}:{i}" for name, path in product_modules().items()
                 for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if word.search(line)]
    assert offenders == []

"""core/ must stay UI-free: importing any core module loads neither textual nor rich."""

import pkgutil
import subprocess
import sys

import core


def test_core_imports_no_ui():
    modules = [f"core.{m.name}" for m in pkgutil.iter_modules(core.__path__)]
    assert modules, "no core modules found"
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "bad = sorted(k for k in sys.modules if k.split('.')[0] in ('textual', 'rich'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"core imported UI modules: {out.stdout.strip()}"


def test_cli_startup_does_not_import_torch():
    code = "import sys, easy_oww_tui.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

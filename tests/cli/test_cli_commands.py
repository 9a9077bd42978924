"""`fcdmbench <command>` builds the app with that command's module only; every name in
`COMMAND_MODULES` is what its module registers."""

from __future__ import annotations

import subprocess
import sys

from typer.main import get_command

from fcdmbench.cli.main import COMMAND_MODULES, app, build_app


def test_command_modules_name_what_each_module_registers():
    for name in COMMAND_MODULES:
        assert name in get_command(build_app([name])).commands, name
    assert set(get_command(app).commands) == set(COMMAND_MODULES)


def test_running_a_command_imports_no_other_command_module():
    code = (
        "import sys\n"
        "from fcdmbench.cli.main import run\n"
        "sys.argv = ['fcdmbench', '--debug', 'flops', '--help']\n"
        "try:\n"
        "    run()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('fcdmbench.cli.'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    loaded = done.stdout.split("\n")[-2].split()
    assert loaded == ["fcdmbench.cli.flops", "fcdmbench.cli.main", "fcdmbench.cli.output"]

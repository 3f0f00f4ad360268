"""The command table: every command is found in its module, and choosing one imports no other."""

from __future__ import annotations

import importlib
import subprocess
import sys

from rlhf.cli.commands import MODULES, load


def test_the_table_lists_exactly_the_commands_of_each_module() -> None:
    for module in set(MODULES.values()):
        defined = {command.name for command in importlib.import_module(module).COMMANDS}
        assert defined == {name for name, owner in MODULES.items() if owner == module}
    assert all(load(name).name == name for name in MODULES)


def test_a_data_command_does_not_import_torch() -> None:
    code = (
        "import sys; from rlhf.cli import main\n"
        "try:\n    main(['data', 'validate', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "False"

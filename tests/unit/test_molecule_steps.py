"""The molecule step playbooks that run in one ansible-playbook call (side_effect.yml) keep their names apart.

A variable registered (or set_fact) by one step outranks a play or task
variable of the same name in a later step of the same run: the later step
then reads the earlier step's data. This happened twice (`__restore`,
`__before`); the scan below keeps it from happening again.
"""

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RUNS = [ROOT / "molecule" / "default" / "side_effect.yml", ROOT / "molecule" / "trixie" / "side_effect.yml"]


def _names(node, defined, registered):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "register" and isinstance(value, str):
                registered.add(value)
            elif key == "vars" and isinstance(value, dict):
                defined.update(value)
            elif key in ("ansible.builtin.set_fact", "set_fact") and isinstance(value, dict):
                registered.update(value)
            _names(value, defined, registered)
    elif isinstance(node, list):
        for item in node:
            _names(item, defined, registered)


def _steps(run):
    plays = yaml.safe_load(run.read_text())
    return [(run.parent / play["ansible.builtin.import_playbook"]).resolve() for play in plays]


@pytest.mark.parametrize("run", RUNS, ids=lambda path: path.parent.name)
def test_no_step_reads_a_name_another_step_registers(run):
    steps = _steps(run)
    assert len(steps) >= 3
    found = {}
    for step in steps:
        defined, registered = set(), set()
        _names(yaml.safe_load(step.read_text()), defined, registered)
        found[step.name] = (defined, registered)
    clashes = [f"{name}: a variable in {a}, registered in {b}"
               for a, (defined, _registered) in found.items()
               for b, (_defined, registered) in found.items() if a != b
               for name in sorted(defined & registered)]
    assert clashes == []

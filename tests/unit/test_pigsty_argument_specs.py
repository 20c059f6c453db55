"""Pigsty-shaped inventories that pass the preflight also pass every role's argument spec.

The preflight runs before any host changes; a value it lets through that a
role's argument spec then refuses would stop a deploy half-way. Each value the
fixture sets is checked against the spec of every role that declares it
(types, choices and suboptions; defaults and required options are the roles'
own business and are left out).
"""

from pathlib import Path

import pytest
import yaml
from ansible.inventory.manager import InventoryManager
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.parsing.dataloader import DataLoader
from ansible.vars.manager import VariableManager

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = [ROOT / "tests" / "inventories" / "pigsty" / "accepted.yml",
            ROOT / "molecule" / "default" / "inventory" / "hosts.yml"]
ROLES = sorted(p.parent.parent.name for p in ROOT.glob("roles/*/meta/argument_specs.yml"))


def _loose(spec):
    """The option's spec without default and required, recursively (suboptions keep their types)."""
    spec = {k: v for k, v in spec.items() if k not in ("default", "required", "description")}
    if "options" in spec:
        spec["options"] = {name: _loose(sub) for name, sub in spec["options"].items()}
    return spec


def _host_vars(inventory):
    loader = DataLoader()
    manager = InventoryManager(loader=loader, sources=[str(inventory)])
    variables = VariableManager(loader=loader, inventory=manager)
    return {host.name: variables.get_vars(host=host) for host in manager.get_hosts()}


@pytest.mark.parametrize("inventory", FIXTURES, ids=lambda p: p.parent.name + "/" + p.name)
@pytest.mark.parametrize("role", ROLES)
def test_values_the_preflight_accepts_pass_the_role_argument_spec(inventory, role):
    entry_points = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
    options = {}
    for entry_point in entry_points["argument_specs"].values():
        options.update(entry_point.get("options") or {})
    checked = 0
    for host, host_vars in _host_vars(inventory).items():
        given = {name: host_vars[name] for name in options if name in host_vars}
        # Values that refer to other variables are templated by Ansible at run time.
        given = {name: value for name, value in given.items() if "{{" not in str(value)}
        spec = {name: _loose(options[name]) for name in given}
        result = ArgumentSpecValidator(spec).validate(given)
        assert not result.error_messages, f"{host}: {result.error_messages}"
        checked += len(given)
    if role == "patroni":
        assert checked > 0


def test_the_check_refuses_what_the_spec_refuses():
    options = yaml.safe_load((ROOT / "roles" / "patroni" / "meta" / "argument_specs.yml").read_text())
    options = options["argument_specs"]["main"]["options"]
    given = {"pg_hba_rules": [{"user": "app", "addr": "intra", "pool": 1}],
             "pg_users": [{"name": "app", "parameters": {"work_mem": "64MB"}}]}
    result = ArgumentSpecValidator({name: _loose(options[name]) for name in given}).validate(given)
    assert any("pool" in message for message in result.error_messages), result.error_messages
    assert any("parameters" in message for message in result.error_messages), result.error_messages

"""ansible-doc renders the documentation of every module and inventory plugin of the collection."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _names(kind):
    files = (ROOT / "plugins" / kind).glob("*.py")
    return sorted(f"pgha.cloud.{p.stem}" for p in files if p.stem != "__init__")


def _docs(plugin_type, names):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    out = subprocess.run([str(BIN / "ansible-doc"), "--json", "-t", plugin_type, *names],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=180)
    assert out.returncode == 0, out.stderr
    docs = json.loads(out.stdout)
    assert sorted(docs) == names, out.stderr  # a plugin whose documentation does not parse is left out
    return docs


def _check(name, entry):
    doc = entry["doc"]
    assert doc["short_description"] and doc["description"], name
    assert entry["examples"].strip(), f"{name}: no EXAMPLES"
    for option, spec in doc.get("options", {}).items():
        assert spec.get("description"), f"{name}: option {option} has no description"


def test_every_module_renders_with_examples_and_return():
    names = _names("modules")
    assert names
    for name, entry in _docs("module", names).items():
        _check(name, entry)
        assert entry["return"] is not None, f"{name}: no RETURN"


def test_every_inventory_plugin_renders():
    names = _names("inventory")
    assert "pgha.cloud.aws_pg" in names
    docs = _docs("inventory", names)
    for name, entry in docs.items():
        _check(name, entry)
    options = docs["pgha.cloud.aws_pg"]["doc"]["options"]
    # Its own options, the shared AWS connection options without `region`, and Ansible's fragments.
    for option in ("regions", "filters", "clusters", "tag_names", "hostname", "endpoint_url", "profile",
                   "secret_key", "max_attempts", "compose", "keyed_groups", "strict", "cache",
                   "cache_plugin"):
        assert option in options, option
    assert "region" not in options


def test_aws_modules_keep_the_region_option():
    docs = _docs("module", ["pgha.cloud.nlb_targets"])
    options = docs["pgha.cloud.nlb_targets"]["doc"]["options"]
    assert options["region"]["aliases"] == ["aws_region"]
    assert "endpoint_url" in options and "read_timeout" in options

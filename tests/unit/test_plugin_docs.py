"""ansible-doc renders the documentation of every module, inventory plugin and filter of the collection."""

import importlib
import inspect
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
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=180, check=False)
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
    docs = _docs("module", names)
    for name, entry in docs.items():
        _check(name, entry)
        assert entry["return"] is not None, f"{name}: no RETURN"
        # From the pgha.cloud.attributes fragment, merged with Ansible's descriptions.
        attributes = entry["doc"]["attributes"]
        assert attributes["check_mode"]["support"] == "full", name
        assert attributes["diff_mode"]["support"] in ("full", "none"), name
        assert attributes["check_mode"]["description"], name
    assert docs["pgha.cloud.patroni_cluster_info"]["doc"]["attributes"]["diff_mode"]["support"] == "none"
    assert docs["pgha.cloud.patroni_config"]["doc"]["attributes"]["diff_mode"]["support"] == "full"


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


def _filters():
    """{name: function} of every FilterModule in plugins/filter/*.py."""
    found = {}
    for path in sorted((ROOT / "plugins" / "filter").glob("*.py")):
        if path.stem == "__init__":
            continue
        module = importlib.import_module(f"ansible_collections.pgha.cloud.plugins.filter.{path.stem}")
        for name, function in module.FilterModule().filters().items():
            assert name not in found, f"filter {name} is registered twice"
            found[name] = function
    return found


def test_every_filter_has_documentation_that_renders():
    filters = _filters()
    assert {"rto_plan", "haproxy_plan", "vip_vrid", "firewall_rules"} <= set(filters)
    docs_dir = ROOT / "plugins" / "filter"
    missing = sorted(name for name in filters if not (docs_dir / f"{name}.yml").is_file())
    assert not missing, f"no plugins/filter/<name>.yml for: {', '.join(missing)}"
    stray = sorted(p.stem for p in docs_dir.glob("*.yml") if p.stem not in filters)
    assert not stray, f"documentation of no registered filter: {', '.join(stray)}"
    # One ansible-doc run for all of them; a file that does not parse is left out of its output.
    docs = _docs("filter", sorted(f"pgha.cloud.{name}" for name in filters))
    for fqcn, entry in docs.items():
        _check(fqcn, entry)
        name = fqcn.rsplit(".", 1)[1]
        doc = entry["doc"]
        assert doc["name"] == name, fqcn
        assert "_value" in (entry["return"] or {}), f"{fqcn}: no RETURN _value"
        # _input is the filtered value; the other arguments keep the function's parameter names.
        expected = ["_input"] + list(inspect.signature(filters[name]).parameters)[1:]
        positional = [part.strip() for part in str(doc.get("positional", "")).split(",") if part.strip()]
        assert positional == expected, f"{fqcn}: positional {positional}, the function takes {expected}"
        assert sorted(doc.get("options", {})) == sorted(expected), f"{fqcn}: options are not {expected}"

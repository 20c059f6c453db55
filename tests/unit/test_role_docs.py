"""The role READMEs and docs/roles.md match the argument specs; the specs cover every role default."""

import importlib.util
import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = "run scripts/gen_role_docs.py (.venv/bin/python scripts/gen_role_docs.py) and commit the result"


def _load_generator():
    spec = importlib.util.spec_from_file_location("gen_role_docs", ROOT / "scripts" / "gen_role_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _load_generator()
ROLES = sorted(p.parent.parent.name for p in ROOT.glob("roles/*/meta/argument_specs.yml"))


def _yaml(path):
    return yaml.safe_load(path.read_text()) or {}


def _options(options):
    """(dotted name, spec) of every public option, sub-options included."""
    for name, spec in (options or {}).items():
        if str(name).startswith("__"):
            continue
        yield name, spec or {}
        for sub, sub_spec in _options((spec or {}).get("options")):
            yield f"{name}.{sub}", sub_spec


def test_the_generated_docs_are_up_to_date():
    files, _warnings = gen.generate(ROOT)
    assert "docs/roles.md" in files
    assert {f"roles/{role}/README.md" for role in ROLES} <= set(files)
    stale = gen.drifted(files, ROOT)
    assert not stale, f"generated docs differ from the argument specs: {', '.join(stale)}; {REGENERATE}"


@pytest.mark.parametrize("role", ROLES)
def test_every_public_default_is_in_the_argument_spec(role):
    defaults = _yaml(ROOT / "roles" / role / "defaults" / "main.yml")
    entry_points = _yaml(ROOT / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]
    options = (entry_points.get("main") or {}).get("options") or {}
    missing = [name for name in defaults if not str(name).startswith("__") and name not in options]
    assert not missing, (f"roles/{role}/defaults/main.yml defines {', '.join(missing)}, which roles/{role}/"
                         f"meta/argument_specs.yml (main) does not list; add them, then {REGENERATE}")


@pytest.mark.parametrize("role", ROLES)
def test_every_option_has_a_type_and_a_description(role):
    entry_points = _yaml(ROOT / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]
    for entry, spec in entry_points.items():
        assert spec.get("short_description"), f"roles/{role} ({entry}): no short_description"
        for name, option in _options(spec.get("options")):
            assert option.get("description"), f"roles/{role} ({entry}): option {name} has no description"
            assert option.get("type"), f"roles/{role} ({entry}): option {name} has no type"


def test_the_generator_finds_nothing_to_warn_about():
    _files, warnings = gen.generate(ROOT)
    assert not warnings, "\n".join(warnings)


def test_the_roles_page_lists_every_role_in_deploy_order():
    page = (ROOT / "docs" / "roles.md").read_text()
    positions = [page.index(f'<a id="{role}"></a>') for role in gen.ROLE_ORDER if role in ROLES]
    assert positions == sorted(positions)
    for role in ROLES:
        assert f"## pgha.cloud.{role}" in page


# ---------------------------------------------------------------- the generator's rendering

def test_a_multi_line_jinja_default_is_folded_to_one_line():
    value = "{{ 'a' if x in ['b',\n   'c'] else 'd' }}"
    assert gen.literal(value) == "\"{{ 'a' if x in ['b', 'c'] else 'd' }}\""


def test_text_outside_jinja_keeps_its_line_breaks():
    assert gen.literal("one\ntwo") == '"one\\ntwo"'


@pytest.mark.parametrize("value, shown", [
    (None, "null"), (True, "true"), (0.2, "0.2"), ("24", '"24"'), ("", '""'), ("*", '"*"'), ("off", '"off"'),
    ("/service/", "/service/"), ("pgha.cloud CA", "pgha.cloud CA"), ([], "[]"), ({}, "{}"),
    (["postgresql-{{ v }}", "b"], '["postgresql-{{ v }}", b]'), ({"vm.swappiness": 1}, "{vm.swappiness: 1}"),
])
def test_literals_read_back_as_the_same_yaml(value, shown):
    assert gen.literal(value) == shown
    assert yaml.safe_load(f"k: {shown}") == {"k": value}


def test_a_long_collection_is_shortened_visibly():
    value = {f"net.key_{i}": i for i in range(20)}
    shown = gen.shown_default(value, "`defaults/main.yml`")
    assert shown.startswith("`{net.key_0: 0, ") and ", …}` (20 entries, all in `defaults/main.yml`)" in shown
    assert len(gen.shown_default(list(range(3)), "x")) < 20  # short ones stay whole


def test_doc_markup_becomes_markdown_and_cells_escape_pipes():
    text = gen.markdown("Set I(pg_rpo=0) or C(a|b), see U(https://example.org), O(x); M(pgha.cloud.y) <z>.")
    assert text == "Set `pg_rpo=0` or `a|b`, see https://example.org, `x`; `pgha.cloud.y` &lt;z>."
    assert gen.cell(text).count("\\|") == 1
    assert gen.paragraphs(["One C(x)\n  and y.", "Two."]) == ["One `x` and y.", "Two."]


def test_check_mode_names_the_drifted_files_and_writes_nothing(tmp_path, capsys):
    shutil.copytree(ROOT / "roles" / "node", tmp_path / "roles" / "node")
    (tmp_path / "roles" / "node" / "README.md").write_text("# edited by hand\n")
    (tmp_path / "docs").mkdir()
    assert gen.main(["--check"], root=tmp_path) == 1
    out = capsys.readouterr().out.split()
    assert out == ["differs:", "roles/node/README.md", "differs:", "docs/roles.md"]
    assert not (tmp_path / "docs" / "roles.md").exists()
    assert gen.main([], root=tmp_path) == 0
    assert gen.main(["--check"], root=tmp_path) == 0
    readme = (tmp_path / "roles" / "node" / "README.md").read_text()
    assert readme.startswith(gen.HEADER + "\n# pgha.cloud.node\n")
    assert readme == (ROOT / "roles" / "node" / "README.md").read_text()


def test_the_generator_warns_about_an_undocumented_default_and_a_missing_description(tmp_path):
    shutil.copytree(ROOT / "roles" / "node", tmp_path / "roles" / "node")
    defaults = tmp_path / "roles" / "node" / "defaults" / "main.yml"
    defaults.write_text(defaults.read_text() + "node_extra: 1\n__node_private: 2\n")
    spec_file = tmp_path / "roles" / "node" / "meta" / "argument_specs.yml"
    spec = _yaml(spec_file)
    del spec["argument_specs"]["main"]["options"]["node_timezone"]["description"]
    spec["argument_specs"]["main"]["options"]["node_nofile_limit"]["type"] = "str"
    spec_file.write_text(yaml.safe_dump(spec))
    _files, warnings = gen.generate(tmp_path)
    assert warnings == [
        "roles/node/meta/argument_specs.yml (main): option node_timezone has no description",
        "roles/node/meta/argument_specs.yml: node_nofile_limit is of type str, but its default 65536 is not",
        "roles/node/defaults/main.yml defines node_extra, which roles/node/meta/argument_specs.yml "
        "does not list",
    ]

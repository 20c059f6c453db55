"""pg_libs: Pigsty's libraries loaded at start, as shared_preload_libraries."""

import pytest
from conftest import three_member_cluster

from ansible_collections.pgha.cloud.plugins.module_utils import inventory_check, pg_settings


@pytest.mark.parametrize("value, names", [
    (None, []), ("", []), ("  ", []), ("pg_stat_statements", ["pg_stat_statements"]),
    ("pg_stat_statements, auto_explain", ["pg_stat_statements", "auto_explain"]),
    ("timescaledb,pg_stat_statements ,auto_explain", ["timescaledb", "pg_stat_statements", "auto_explain"]),
])
def test_libraries_are_read_as_pigsty_writes_them(value, names):
    assert pg_settings.libraries(value) == names


@pytest.mark.parametrize("value, fragment", [
    (["pg_stat_statements"], "is not a string; write it as in Pigsty"),
    ("pg_stat_statements; DROP", "has 'pg_stat_statements; DROP', which is not a library name"),
    ("pg_stat_statements,,auto_explain", "has '', which is not a library name"),
    ("'$libdir/x'", "which is not a library name"),
    ("auto_explain, auto_explain", "names a library twice"),
])
def test_bad_values_are_refused_with_the_fix(value, fragment):
    with pytest.raises(ValueError, match=None) as caught:
        pg_settings.libraries(value)
    assert fragment in str(caught.value)


def test_the_parameter_joins_the_names_without_spaces():
    assert pg_settings.library_parameters("pg_stat_statements, auto_explain") == {
        "shared_preload_libraries": "pg_stat_statements,auto_explain"}
    assert pg_settings.library_parameters("") == {}
    assert pg_settings.library_parameters(None, {"shared_preload_libraries": "x"}) == {}


def test_pg_parameters_must_agree_with_pg_libs():
    same = {"shared_preload_libraries": "pg_stat_statements, auto_explain"}
    assert pg_settings.library_parameters("pg_stat_statements,auto_explain", same)
    with pytest.raises(ValueError, match="pg_libs and shared_preload_libraries in pg_parameters"):
        pg_settings.library_parameters("auto_explain", same)


def library_errors(**variables):
    hostvars, groups = three_member_cluster(**variables)
    return [e for e in inventory_check.inventory_errors(hostvars, groups) if "libs" in e]


def test_the_preflight_refuses_bad_pg_libs_and_disagreement():
    assert library_errors(pg_libs="pg_stat_statements, auto_explain") == []
    assert library_errors(pg_libs="a b") == [
        "cluster pg-test, hosts 10.0.0.1, 10.0.0.2, 10.0.0.3: pg_libs has 'a b', which is not a library "
        "name (lower-case letters, digits and _), separated by commas: pg_libs: 'pg_stat_statements, "
        "auto_explain'"]
    errors = library_errors(pg_libs="auto_explain", pg_parameters={"shared_preload_libraries": "pg_cron"})
    assert len(errors) == 1 and "pg_libs and shared_preload_libraries in pg_parameters" in errors[0]
    errors = library_errors(pg_libs="auto_explain", patroni_libs="pg_cron")
    assert len(errors) == 1 and "pg_libs (Pigsty's name) and patroni_libs differ" in errors[0]


# ---------------------------------------------------------------- pg_extensions

def test_extensions_become_debian_packages_once_each():
    packages = pg_settings.extension_packages(
        ["postgis, pg_cron", "hypopg pg_repack", "postgresql-$v-pgvector", "vector", "pg_stat_kcache",
         "postgresql-${pg_version}-ip4r"], "17")
    assert packages == [
        {"name": "postgis", "package": "postgresql-17-postgis-3"},
        {"name": "pg_cron", "package": "postgresql-17-cron"},
        {"name": "hypopg", "package": "postgresql-17-hypopg"},
        {"name": "pg_repack", "package": "postgresql-17-repack"},
        {"name": "postgresql-$v-pgvector", "package": "postgresql-17-pgvector"},
        {"name": "pg_stat_kcache", "package": "postgresql-17-pg-stat-kcache"},
        {"name": "postgresql-${pg_version}-ip4r", "package": "postgresql-17-ip4r"}]
    assert pg_settings.extension_packages(None, 15) == pg_settings.extension_packages([], 15) == []


@pytest.mark.parametrize("value, fragment", [
    ("postgis", "pg_extensions 'postgis' is not a list"),
    ([{"name": "postgis"}], "is not a name"),
    (["pg18-time, pg18-gis"], "'pg18-time', a package group of Pigsty's own repository"),
    (["postgis;rm"], "'postgis;rm', which is not an extension or package name"),
    (["postgresql-$x-foo"], "which is not an extension or package name"),
])
def test_bad_extensions_are_refused_by_the_preflight(value, fragment):
    hostvars, groups = three_member_cluster(pg_extensions=value)
    errors = [e for e in inventory_check.inventory_errors(hostvars, groups) if "pg_extensions" in e]
    assert len(errors) == 1 and fragment in errors[0], errors
    assert errors[0].startswith("cluster pg-test, hosts 10.0.0.1, 10.0.0.2, 10.0.0.3: ")
    hostvars, groups = three_member_cluster(pg_extensions=["postgis", "postgresql-$v-repack"])
    assert [e for e in inventory_check.inventory_errors(hostvars, groups) if "pg_extensions" in e] == []

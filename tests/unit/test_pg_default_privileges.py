"""Pigsty's pg_default_roles and pg_default_privileges: parsed, checked, and granted only where missing."""

import pytest
from conftest import three_member_cluster

from ansible_collections.pgha.cloud.plugins.module_utils import inventory_check, pg_objects

OWNERS = ["postgres", "dbadmin", "dbrole_admin"]


def test_a_grant_line_becomes_one_grant_per_privilege():
    assert pg_objects.privilege_grants("GRANT SELECT ON TABLES TO dbrole_readonly") == [
        ("r", "dbrole_readonly", "SELECT")]
    assert pg_objects.privilege_grants("grant usage, update on sequences to app") == [
        ("S", "app", "USAGE"), ("S", "app", "UPDATE")]
    assert pg_objects.privilege_grants("GRANT ALL ON SCHEMAS TO dbrole_admin") == [
        ("n", "dbrole_admin", "USAGE"), ("n", "dbrole_admin", "CREATE")]
    assert pg_objects.privilege_grants("GRANT EXECUTE ON ROUTINES TO app") == [("f", "app", "EXECUTE")]


@pytest.mark.parametrize("text, fragment", [
    ("REVOKE SELECT ON TABLES FROM app", "is not GRANT <privileges> ON"),
    ("GRANT SELECT ON TABLES TO app, other", "is not GRANT <privileges> ON"),
    ("GRANT SELECT ON TABLES TO \"App\"", "is not GRANT <privileges> ON"),
    ("GRANT SELECT ON TABLES TO App", "is not GRANT <privileges> ON"),
    ("GRANT SELECT ON TABLES TO app; DROP TABLE x", "is not GRANT <privileges> ON"),
    ("GRANT SELECT ON VIEWS TO app", "VIEWS is not one of TABLES"),
    ("GRANT EXECUTE ON TABLES TO app", "EXECUTE is not a privilege on TABLES"),
    (["GRANT"], "is not GRANT <privileges> ON"),
])
def test_anything_but_a_plain_grant_is_refused(text, fragment):
    with pytest.raises(ValueError) as caught:
        pg_objects.privilege_grants(text)
    assert fragment in str(caught.value)


def test_the_default_list_grants_to_the_default_roles_only():
    roles = {item["name"] for item in pg_objects.DEFAULT_ROLES}
    assert pg_objects.privilege_errors(list(pg_objects.DEFAULT_PRIVILEGES), roles) == []
    assert pg_objects.privilege_errors(["GRANT SELECT ON TABLES TO pg_read_all_data"], set()) == []
    assert pg_objects.privilege_errors(["GRANT SELECT ON TABLES TO ghost"], roles) == [
        "item 1 grants to ghost, which neither pg_default_roles nor pg_users create; add the role or fix "
        "the name"]
    assert pg_objects.privilege_errors("GRANT SELECT ON TABLES TO x", roles)[0].startswith("is not a list")


def result(db, rows):
    return {"item": db, "query_result": rows}


def test_statements_cover_each_owner_and_database_and_only_what_is_missing():
    privileges = ["GRANT SELECT ON TABLES TO dbrole_readonly",
                  "GRANT INSERT, UPDATE ON TABLES TO dbrole_readwrite"]
    have = [{"owner": "postgres", "kind": "r", "grantee": "dbrole_readonly", "privilege": "SELECT"},
            {"owner": "postgres", "kind": "r", "grantee": "dbrole_readwrite", "privilege": "INSERT"}]
    statements = pg_objects.default_privilege_statements(
        [result("template1", have), result("app", [])], privileges, ["postgres", "dbadmin"])
    prefix = "ALTER DEFAULT PRIVILEGES FOR ROLE "
    assert statements == [
        {"db": "template1", "statements": [
            prefix + "dbadmin GRANT SELECT ON TABLES TO dbrole_readonly",
            prefix + "dbadmin GRANT INSERT, UPDATE ON TABLES TO dbrole_readwrite",
            prefix + "postgres GRANT UPDATE ON TABLES TO dbrole_readwrite"]},
        {"db": "app", "statements": [
            prefix + "dbadmin GRANT SELECT ON TABLES TO dbrole_readonly",
            prefix + "dbadmin GRANT INSERT, UPDATE ON TABLES TO dbrole_readwrite",
            prefix + "postgres GRANT SELECT ON TABLES TO dbrole_readonly",
            prefix + "postgres GRANT INSERT, UPDATE ON TABLES TO dbrole_readwrite"]},
    ]


def test_a_database_that_has_every_grant_gets_no_statement():
    rows = [{"owner": owner, "kind": code, "grantee": grantee, "privilege": privilege}
            for text in pg_objects.DEFAULT_PRIVILEGES
            for code, grantee, privilege in pg_objects.privilege_grants(text) for owner in OWNERS]
    # Grants beyond the list (the owner's own, made by PostgreSQL) are left alone.
    rows.append({"owner": "postgres", "kind": "r", "grantee": "postgres", "privilege": "DELETE"})
    assert pg_objects.default_privilege_statements(
        [result("postgres", rows)], list(pg_objects.DEFAULT_PRIVILEGES), OWNERS) == []


def errors(**variables):
    hostvars, groups = three_member_cluster(**variables)
    return [e for e in inventory_check.inventory_errors(hostvars, groups) if "default_" in e or "users" in e]


def test_the_preflight_refuses_the_cluster_users_in_pg_default_roles_and_pg_users():
    found = errors(pg_default_roles=[{"name": "postgres", "superuser": True},
                                     {"name": "replicator", "replication": True, "login": False},
                                     {"name": "dbrole_readonly", "login": False}])
    assert ("cluster pg-test, hosts 10.0.0.1, 10.0.0.2, 10.0.0.3: pg_default_roles item 1 (postgres) is the "
            "superuser, which the cluster makes and keeps itself; remove the item") in found
    assert any("item 2 (replicator) is the replication user" in e for e in found)
    assert not any("dbrole_readonly" in e for e in found)
    found = errors(pg_users=[{"name": "dbadmin", "password": "x-1"}])
    assert found == ["cluster pg-test, hosts 10.0.0.1, 10.0.0.2, 10.0.0.3: pg_users item 1 (dbadmin) is the "
                     "admin login, which the cluster makes and keeps itself; remove the item"]


def test_the_preflight_checks_pg_default_privileges_against_the_roles_it_will_have():
    assert errors(pg_default_privileges=list(pg_objects.DEFAULT_PRIVILEGES)) == []
    assert errors(pg_default_privileges=["GRANT SELECT ON TABLES TO app"],
                  pg_users=[{"name": "app", "password": "x-1"}]) == []
    found = errors(pg_default_privileges=["GRANT SELECT ON TABLES TO dbrole_readonly"],
                   pg_default_roles=[{"name": "readers", "login": False}])
    assert found == ["cluster pg-test, hosts 10.0.0.1, 10.0.0.2, 10.0.0.3: pg_default_privileges item 1 "
                     "grants to dbrole_readonly, which neither pg_default_roles nor pg_users create; add the "
                     "role or fix the name"]
    found = errors(pg_default_privileges=["REVOKE ALL ON TABLES FROM PUBLIC"])
    assert len(found) == 1 and "is not GRANT <privileges> ON" in found[0]


def test_the_defaults_come_as_new_lists():
    roles = pg_objects.default_objects("roles")
    roles[3]["roles"].append("x")
    assert pg_objects.DEFAULT_ROLES[3]["roles"] == ["pg_monitor", "dbrole_readwrite"]
    assert pg_objects.default_objects("privileges") == list(pg_objects.DEFAULT_PRIVILEGES)
    with pytest.raises(ValueError):
        pg_objects.default_objects("schemas")

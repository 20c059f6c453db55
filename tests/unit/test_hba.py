"""Pigsty-shaped pg_hba rules: what is refused, what each rule renders to, and where it sits."""

import pytest
from conftest import three_member_cluster

from ansible_collections.pgha.cloud.plugins.module_utils import cluster, hba, inventory_check

USERS = {"${dbsu}": "postgres", "${repl}": "replicator", "${monitor}": "dbmonitor", "${admin}": "dbadmin"}
RESERVED = ["postgres", "replicator", "rewind"]
CONTEXT = {"cluster": ["10.0.0.1", "10.0.0.2"], "infra": ["10.9.0.1"]}

# Pigsty v4.5's pg_default_hba_rules (roles/pgsql/defaults/main.yml).
PIGSTY_DEFAULTS = [
    {"user": "${dbsu}", "db": "all", "addr": "local", "auth": "ident", "title": "dbsu local",
     "order": 100},
    {"user": "${dbsu}", "db": "replication", "addr": "local", "auth": "ident", "title": "dbsu repl",
     "order": 150},
    {"user": "${repl}", "db": "replication", "addr": "localhost", "auth": "pwd", "title": "repl local",
     "order": 200},
    {"user": "${repl}", "db": "replication", "addr": "intra", "auth": "pwd", "title": "repl intra",
     "order": 250},
    {"user": "${repl}", "db": "postgres", "addr": "intra", "auth": "pwd", "title": "repl pg", "order": 300},
    {"user": "${monitor}", "db": "all", "addr": "localhost", "auth": "pwd", "title": "mon local",
     "order": 350},
    {"user": "${monitor}", "db": "all", "addr": "infra", "auth": "pwd", "title": "mon infra", "order": 400},
    {"user": "${admin}", "db": "all", "addr": "intra", "auth": "pwd", "title": "admin intra", "order": 450},
    {"user": "${admin}", "db": "all", "addr": "world", "auth": "ssl", "title": "admin world", "order": 500},
    {"user": "+dbrole_readonly", "db": "all", "addr": "localhost", "auth": "pwd", "title": "ro local",
     "order": 550},
    {"user": "+dbrole_readonly", "db": "all", "addr": "intra", "auth": "pwd", "title": "ro intra",
     "order": 600},
    {"user": "+dbrole_offline", "db": "all", "addr": "intra", "auth": "pwd", "title": "etl", "order": 650},
]


def render(rules, pg_role="primary", tls="require"):
    return hba.render(rules, USERS, RESERVED, pg_role, CONTEXT, tls)


def lines_of(rules, pg_role="primary", tls="require"):
    return render(rules, pg_role, tls)[0]


# ------------------------------------------------------------------ rendering

def test_pigsty_defaults_render_without_the_superuser_and_replication_rules():
    lines, covered = render(PIGSTY_DEFAULTS, tls="prefer")
    assert covered == ["dbsu local", "dbsu repl", "repl local", "repl intra", "repl pg"]
    assert lines == [
        "local all dbmonitor scram-sha-256",
        "host all dbmonitor 127.0.0.1/32 scram-sha-256",
        "host all dbmonitor ::1/128 scram-sha-256",
        "host all dbmonitor 10.9.0.1/32 scram-sha-256",
        "host all dbadmin 10.0.0.0/8 scram-sha-256",
        "host all dbadmin 172.16.0.0/12 scram-sha-256",
        "host all dbadmin 192.168.0.0/16 scram-sha-256",
        "hostssl all dbadmin 0.0.0.0/0 scram-sha-256",
        "hostssl all dbadmin ::/0 scram-sha-256",
        "local all +dbrole_readonly scram-sha-256",
        "host all +dbrole_readonly 127.0.0.1/32 scram-sha-256",
        "host all +dbrole_readonly ::1/128 scram-sha-256",
        "host all +dbrole_readonly 10.0.0.0/8 scram-sha-256",
        "host all +dbrole_readonly 172.16.0.0/12 scram-sha-256",
        "host all +dbrole_readonly 192.168.0.0/16 scram-sha-256",
        "host all +dbrole_offline 10.0.0.0/8 scram-sha-256",
        "host all +dbrole_offline 172.16.0.0/12 scram-sha-256",
        "host all +dbrole_offline 192.168.0.0/16 scram-sha-256",
    ]


def test_tls_require_makes_password_rules_hostssl_but_keeps_reject_on_host():
    lines = lines_of([{"user": "app", "addr": "10.1.0.0/16", "auth": "pwd"},
                      {"user": "app", "db": "postgres", "addr": "world", "auth": "deny"}])
    assert lines == ["hostssl all app 10.1.0.0/16 scram-sha-256",
                     "host postgres app 0.0.0.0/0 reject", "host postgres app ::/0 reject"]


def test_rules_are_sorted_by_order_and_those_without_come_last_as_given():
    rules = [{"user": "c", "addr": "10.0.0.3"}, {"user": "b", "addr": "10.0.0.2", "order": 800},
             {"user": "a", "addr": "10.0.0.1", "order": 50}, {"user": "d", "addr": "10.0.0.4"}]
    lines = lines_of(rules)
    assert [line.split()[2] for line in lines] == ["a", "b", "c", "d"]


def test_a_single_address_becomes_one_host_and_cluster_means_the_members():
    lines = lines_of([{"user": "app", "addr": "10.1.2.3", "auth": "sha"},
                      {"user": "app", "addr": "cluster", "auth": "cert"},
                      {"user": "app", "addr": "fd00::5", "auth": "trust"}])
    assert lines == ["hostssl all app 10.1.2.3/32 scram-sha-256",
                     "hostssl all app 10.0.0.1/32 cert", "hostssl all app 10.0.0.2/32 cert",
                     "hostssl all app fd00::5/128 trust"]


def test_role_limits_a_rule_to_instances_of_that_pg_role():
    rules = [{"user": "a", "addr": "world", "auth": "deny", "role": "replica"},
             {"user": "b", "addr": "world", "auth": "deny", "role": "common"},
             {"user": "c", "addr": "world", "auth": "deny", "role": "offline"}]
    primary = lines_of(rules, pg_role="primary")
    replica = lines_of(rules, pg_role="replica")
    assert {line.split()[2] for line in primary} == {"b"}
    assert {line.split()[2] for line in replica} == {"a", "b"}
    offline = lines_of(rules, pg_role="offline")
    assert {line.split()[2] for line in offline} == {"b", "c"}
    # Pigsty: offline rules apply on a replica with pg_offline_query too.
    lines, _covered = hba.render(rules, USERS, RESERVED, "replica", CONTEXT, offline_query=True)
    assert {line.split()[2] for line in lines} == {"a", "b", "c"}


def test_raw_rules_are_written_as_given_with_whitespace_collapsed():
    lines = lines_of([{"title": "raw", "rules": ["host   all  app 10.5.0.0/16  scram-sha-256",
                                                 "hostssl app app 10.6.0.0/16 cert clientname=DN"]}])
    assert lines == ["host all app 10.5.0.0/16 scram-sha-256",
                     "hostssl app app 10.6.0.0/16 cert clientname=DN"]


def test_a_reserved_name_in_a_list_is_left_out_and_the_rule_named():
    lines, covered = render([{"user": "postgres,app", "addr": "intra", "auth": "pwd", "title": "mixed"}],
                            tls="prefer")
    assert covered == ["mixed"]
    assert lines[0] == "host all app 10.0.0.0/8 scram-sha-256"


def test_render_refuses_a_bad_rule_instead_of_writing_it():
    with pytest.raises(ValueError, match="pg_hba rule 'x': addr 'nowhere' is neither an alias"):
        render([{"user": "app", "addr": "nowhere", "title": "x"}])


# ------------------------------------------------------------------ placement

def test_custom_lines_sit_after_the_reserved_users_and_before_the_clients():
    custom = lines_of([{"user": "app", "db": "postgres", "addr": "world", "auth": "deny"},
                       {"user": "app", "addr": "local", "auth": "deny"}])
    rules = cluster.hba_rules(["10.0.0.1"], ["192.168.0.0/16"], "postgres", "replicator", ["10.0.0.9"],
                              rewind_user="rewind", custom=custom)
    position = rules.index("host postgres app 0.0.0.0/0 reject")
    assert rules.index("host all postgres all reject") < position
    assert rules.index("host all rewind all reject") < position
    # A local deny for app is reached before the socket's rule for everybody.
    assert rules.index("local all app reject") < rules.index("local all all scram-sha-256")
    assert position < rules.index("hostssl all all 10.0.0.1/32 scram-sha-256")
    assert rules[-1] == "hostssl all all 192.168.0.0/16 scram-sha-256"


# ------------------------------------------------------------------ refusals

@pytest.mark.parametrize("rule, fragment", [
    ("host all all 0.0.0.0/0 trust", "is not a mapping"),
    ({"user": "app", "addr": "world", "expire": 1}, "has 'expire', which a pg_hba rule does not take"),
    ({"user": "app"}, "addr is not set"),
    ({"user": "app", "addr": "admin"}, "addr admin is Pigsty's admin node (admin_ip)"),
    ({"user": "app", "addr": "10.0.0.1/8"}, "has host bits set; write the network address 10.0.0.0/8"),
    ({"user": "app", "addr": "10.0.0.0/8 trust"}, "is neither an alias"),
    ({"user": "app all", "addr": "intra"}, "user 'app all' is not a name list"),
    ({"user": "${root}", "addr": "intra"}, "user '${root}' is not a name list"),
    ({"user": "app", "db": "\"x\"", "addr": "intra"}, "quoted names"),
    ({"user": "app", "addr": "intra", "auth": "ldap"}, "auth 'ldap' is not one of"),
    ({"user": "app", "addr": "intra", "auth": "peer"}, "auth peer works on the local socket only"),
    ({"user": "app", "addr": "localhost", "auth": "cert"}, "auth cert needs a TLS connection"),
    ({"user": "app", "addr": "intra", "role": "leader"}, "role 'leader' is not one of"),
    ({"user": "app", "addr": "intra", "order": "high"}, "order 'high' is not a whole number"),
    ({"user": "app", "addr": "intra", "title": "a\nb"}, "title is not one line"),
    ({"user": "app", "addr": "intra", "rules": ["local all all trust"]}, "has both rules and"),
    ({"rules": "host all all 0.0.0.0/0 trust"}, "rules is not a list"),
    ({"rules": ["host all all 0.0.0.0/0 trust # x"]}, "a quote or #"),
    ({"rules": ["host all all 0.0.0.0/0 trust\nhost all all ::/0 trust"]}, "a line break"),
    ({"rules": ["hostx all all 0.0.0.0/0 trust"]}, "is not a pg_hba line"),
    ({"rules": ["host all all 10.0.0.0/8 nope"]}, "the method is not one of"),
    ({"rules": ["host all all somewhere trust"]}, "address 'somewhere' is not a network"),
    ({"rules": ["host all all 10.0.0.0/8 cert clientcert"]}, "option 'clientcert' is not name=value"),
    ({"rules": ["local all all cert"]}, "cert needs a TLS connection"),
    ({"rules": ["host all all 10.0.0.0/8 peer"]}, "peer works on the local socket only"),
    ({"rules": ["host all @admins 10.0.0.0/8 trust"]}, "user '@admins' is not a name list"),
])
def test_rule_errors_name_the_field_and_the_fix(rule, fragment):
    errors = hba.rule_errors(rule)
    assert any(fragment in error for error in errors), errors


@pytest.mark.parametrize("rule", PIGSTY_DEFAULTS + [
    {"user": "all", "db": "all", "addr": "intra", "auth": "pwd", "title": "everyone intranet", "order": 800},
    {"title": "raw", "role": "common", "rules": ["hostssl all +dbrole_readonly 10.0.0.0/8 scram-sha-256"]},
    {"user": "app", "db": "app,postgres", "addr": "::1", "auth": "ssl-sha"},
])
def test_pigsty_shaped_rules_pass(rule):
    assert hba.rule_errors(rule) == []


# ------------------------------------------------------------------ preflight

def inventory(rules, name="pg_hba_rules"):
    return three_member_cluster(**{name: rules})


def test_the_preflight_names_each_bad_rule_by_variable_item_and_title():
    hostvars, groups = inventory([{"user": "app", "addr": "intra"},
                                  {"user": "app", "addr": "everywhere", "title": "typo"}])
    errors = [e for e in inventory_check.inventory_errors(hostvars, groups) if "hba" in e]
    assert errors == ["cluster pg-test, hosts 10.0.0.1, 10.0.0.2, 10.0.0.3: pg_hba_rules item 2 (typo) addr "
                      "'everywhere' is neither an alias (local, localhost, infra, cluster, intra, intranet, "
                      "world, all) nor an address or network such as 10.0.0.0/8"]


def test_the_preflight_refuses_a_rules_variable_that_is_not_a_list():
    hostvars, groups = inventory({"user": "app"}, name="pg_default_hba_rules")
    errors = [e for e in inventory_check.inventory_errors(hostvars, groups) if "hba" in e]
    assert len(errors) == 1 and "pg_default_hba_rules is not a list" in errors[0]


def test_the_preflight_notes_the_rules_the_cluster_decides_itself():
    hostvars, groups = inventory(PIGSTY_DEFAULTS[:3] + [{"user": "app", "addr": "intra", "role": "replica"}],
                                 name="pg_default_hba_rules")
    notes = inventory_check.hba_notes(hostvars, groups)
    expected = ("cluster pg-test: the pg_hba rules dbsu local, dbsu repl, repl local name postgres, "
                "replicator{}, whom the cluster's own rules decide (the superuser on the local socket only, "
                "replication and rewind over TLS from members); they are left out")
    # Without pg_rewind_password the replication user rewinds (Pigsty's way): named once.
    assert notes == [expected.format("")]
    for vars_ in hostvars.values():
        vars_["pg_rewind_password"] = "Sx-rewind-1"
    assert inventory_check.hba_notes(hostvars, groups) == [expected.format(", rewind")]
    hostvars, groups = inventory([{"user": "app", "addr": "intra"}])
    assert inventory_check.hba_notes(hostvars, groups) == []

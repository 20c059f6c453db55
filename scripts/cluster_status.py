#!/usr/bin/env python3
"""Print each cluster of an inventory as Patroni sees it, with connection URIs.

    cluster_status.py -i inventories/sandbox

Asks the Patroni REST API of the first member that answers; the inventory only
says where to ask, never who leads.
"""
import argparse
import json
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

# The checkout is the collection (collections/ansible_collections/pgha/cloud links to it).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "collections"))
from ansible_collections.pgha.cloud.plugins.module_utils import cluster as cluster_utils  # noqa: E402
from ansible_collections.pgha.cloud.plugins.module_utils import haproxy, patroni_core, pgbouncer, tls  # noqa: E402


def inventory(path):
    # The venv's own ansible-inventory, whatever PATH says.
    tool = os.path.join(os.path.dirname(sys.executable), "ansible-inventory")
    out = subprocess.run([tool, "-i", path, "--list"], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def clusters(inv):
    hostvars = inv.get("_meta", {}).get("hostvars", {})
    found = {}
    for host, hv in hostvars.items():
        if "pg_cluster" in hv:
            found.setdefault(hv["pg_cluster"], []).append((host, hv))
    return found


def groups_of(inv):
    """{group: [hosts]} with children folded in, like Ansible's `groups`."""
    def hosts(group, seen=()):
        entry = inv.get(group, {})
        out = list(entry.get("hosts", []))
        for child in entry.get("children", []):
            if child not in seen:
                out += [h for h in hosts(child, seen + (group,)) if h not in out]
        return out
    names = [g for g in inv if g != "_meta"]
    return {g: hosts(g) for g in names}


def ask(members, transport):
    """GET /cluster from the first member that answers (one try each); raises patroni_core.PatroniError."""
    hosts = [host for host, _hv in members]
    urls = cluster_utils.api_urls(hosts, dict(members))
    client = patroni_core.PatroniClient(urls, transport, timeout=3, retries=0,
                                        option_names={"urls": "the inventory's node_address and "
                                                      "patroni_rest_port", "ca": "the pki role's ca.crt"})
    return client.cluster()


def app_logins(hostvars):
    """(user, quoted password, database) for each database of pg_databases whose owner is in pg_users."""
    users = [u for u in hostvars.get("pg_users") or [] if isinstance(u, dict)]
    passwords = {u.get("name"): u.get("password") for u in users}
    out = []
    for db in hostvars.get("pg_databases") or []:
        owner = db.get("owner") if isinstance(db, dict) else None
        if owner and passwords.get(owner):
            out.append((owner, urllib.parse.quote(str(passwords[owner]), safe=""), db["name"]))
    return out


def row(member, host, role, state, timeline, lag):
    """One line of the member table, in fixed-width columns."""
    return f"  {member!s:<14} {host!s:<16} {role!s:<14} {state!s:<10} {timeline!s:>3} {lag!s:>10}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--inventory", required=True)
    args = parser.parse_args()
    failed = False
    inv = inventory(args.inventory)
    # The deployment's CA (pki role): the REST API and PostgreSQL are checked against it.
    ca = os.path.abspath(os.path.join(tls.pki_dir([args.inventory]), "ca.crt"))
    transport = patroni_core.stdlib_transport(ca_file=ca)
    for name, members in sorted(clusters(inv).items()):
        try:
            state = ask(members, transport)
        except patroni_core.PatroniError as e:
            print(f"{name}: {e.message}")
            failed = True
            continue
        print(f"\nCluster {name}")
        print(row("member", "host", "role", "state", "TL", "lag(B)"))
        for m in state.get("members", []):
            print(row(m["name"], m.get("host", "?"), m.get("role", "?"), m.get("state", "?"),
                      m.get("timeline", ""), m.get("lag", "" if m.get("role") == "leader" else "?")))
            failed = failed or m.get("state") not in ("running", "streaming")
        # Through the first HAProxy that routes to the cluster (a node, or a pg_proxy host).
        hostvars = inv.get("_meta", {}).get("hostvars", {})
        groups = groups_of(inv)
        routers = haproxy.haproxy_hosts(hostvars, groups, name)
        if not routers:
            continue
        router = routers[0]
        ports = haproxy.cluster_ports(hostvars, groups, name, haproxy.fallback_ports(hostvars, router))
        address = hostvars[router].get("node_address", router)
        # TLS with the server's name checked against the deployment's CA.
        verify = "sslmode=verify-full&sslrootcert=" + urllib.parse.quote(ca, safe="/")
        hv = members[0][1]
        # With pgbouncer the primary and replica services reach only its users and databases;
        # the default service leads to PostgreSQL itself.
        pooled = pgbouncer.service_dest(hostvars, members[0][0]) == "pgbouncer"
        allowed = pgbouncer.allowed_users(hv.get("pg_users"), "dbadmin",
                                          haproxy.parse_bool(hv.get("pgbouncer_auth_query"), False))
        databases = {db["name"] for db in hv.get("pg_databases") or []
                     if isinstance(db, dict) and pgbouncer.pooled_database(db)}
        # The business databases first: their owner may create tables right away.
        for user, password, database in app_logins(hv):
            print(f"\n  {database} (owner {user}):")
            if pooled and not (database in databases and (user in allowed or allowed == ["all"])):
                print(f"    read-write: postgres://{user}:{password}@{address}:{ports['default']}/{database}?{verify}"
                      "  (straight to PostgreSQL: not a pgbouncer user or database)")
                continue
            print(f"    read-write: postgres://{user}:{password}@{address}:{ports['primary']}/{database}?{verify}")
            print(f"    read-only:  postgres://{user}:{password}@{address}:{ports['replica']}/{database}?{verify}")
        # The admin login: databases and roles of pg_users, monitoring; no tables in `postgres`.
        user = "dbadmin"
        password = urllib.parse.quote(str(hv.get("pg_admin_password", "")), safe="")
        print(f"\n  admin ({user}):")
        if pooled:
            # pgbouncer pools the inventory's databases only, not `postgres`.
            print(f"    read-write: postgres://{user}:{password}@{address}:{ports['default']}/postgres?{verify}"
                  "  (the default service, straight to PostgreSQL)")
        else:
            print(f"    read-write: postgres://{user}:{password}@{address}:{ports['primary']}/postgres?{verify}")
            print(f"    read-only:  postgres://{user}:{password}@{address}:{ports['replica']}/postgres?{verify}")
        if "vip" in (hv.get("pg_entrypoints") or []) and hv.get("pg_vip_address"):
            # The VIP sits on the leader: PostgreSQL itself answers there.
            vip = str(hv["pg_vip_address"]).split("/", maxsplit=1)[0]
            port = hv.get("patroni_pg_port", 5432)
            print(f"    vip:        postgres://{user}:{password}@{vip}:{port}/postgres?{verify}"
                  "  (the leader, direct)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

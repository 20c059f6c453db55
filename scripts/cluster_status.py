#!/usr/bin/env python3
"""Print each cluster of an inventory as Patroni sees it, with connection URIs.

    cluster_status.py -i inventories/sandbox

Asks the Patroni REST API of the first member that answers; the inventory only
says where to ask, never who leads.
"""
import argparse
import json
import subprocess
import sys
import urllib.parse
import urllib.request


def inventory(path):
    out = subprocess.run(["ansible-inventory", "-i", path, "--list"], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def clusters(inv):
    hostvars = inv.get("_meta", {}).get("hostvars", {})
    found = {}
    for host, hv in hostvars.items():
        if "pg_cluster" in hv:
            found.setdefault(hv["pg_cluster"], []).append((host, hv))
    return found


def ask(members, path):
    for host, hv in members:
        url = "http://%s:%s%s" % (hv.get("node_address", host), hv.get("patroni_rest_port", 8008), path)
        try:
            with urllib.request.urlopen(url, timeout=3) as resp:
                return json.load(resp)
        except OSError:
            continue
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--inventory", required=True)
    args = parser.parse_args()
    failed = False
    for name, members in sorted(clusters(inventory(args.inventory)).items()):
        state = ask(members, "/cluster")
        if state is None:
            print("%s: no Patroni member answered" % name)
            failed = True
            continue
        print("\nCluster %s" % name)
        print("  %-14s %-16s %-14s %-10s %3s %10s" % ("member", "host", "role", "state", "TL", "lag(B)"))
        for m in state.get("members", []):
            print("  %-14s %-16s %-14s %-10s %3s %10s" % (
                m["name"], m.get("host", "?"), m.get("role", "?"), m.get("state", "?"),
                m.get("timeline", ""), m.get("lag", "" if m.get("role") == "leader" else "?")))
            failed = failed or m.get("state") not in ("running", "streaming")
        host, hv = members[0]
        user = "dbadmin"
        password = urllib.parse.quote(str(hv.get("pg_admin_password", "")), safe="")
        address = hv.get("node_address", host)
        print("\n  read-write: postgres://%s:%s@%s:%s/postgres" % (user, password, address, 5433))
        print("  read-only:  postgres://%s:%s@%s:%s/postgres" % (user, password, address, 5434))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Declare a dead Patroni leader dead sooner than its leader key's ttl, by a quorum of observers.

Patroni lets a crashed leader's key live `ttl` seconds (at least 20) before a
replica may take over. One observer runs on every member of a cluster. Every
--interval seconds it judges the leader dead only on two kinds of evidence
together:

1. the leader's etcd lease has not been renewed for more than loop_wait plus
   a margin (its remaining TTL, as etcd counts it, not any wall clock), and
2. neither the leader's Patroni REST API nor its PostgreSQL port accepts a
   TCP connection.

It never judges while the cluster is paused, while a switchover or failover
is asked for (the failover key), when no synchronous standby is running
(unless --allow-async: an early election could then drop acknowledged
commits), or when it cannot read etcd with a linearizable read (an observer
cut off from etcd's majority reads nothing). Its verdict, naming the leader
key's mod_revision and lease, goes to etcd under a short lease of its own.
When a majority of the cluster's observers hold the same verdict, one of them
deletes the leader key in one transaction that compares the key's
mod_revision and lease with the judged ones: a leader that renewed (a new
put), or a new leader, is never touched. Patroni then elects as usual: only
a synchronous standby, within maximum_lag_on_failover, with its own checks.

etcd speaks TLS with client certificates; the service logs in as the
cluster's own etcd user, whose role reaches this cluster's keys only, with
`user:password` from a file only it (Patroni's account) can read.
patroni_core.py and pgha_etcd_gateway.py sit beside this file on the nodes.
"""

import argparse
import json
import logging
import socket
import time
import urllib.parse

import pgha_etcd_gateway as etcd

LOG = logging.getLogger("pgha-observer")
VERDICTS = "observers/"


def keys(namespace, cluster):
    base = "/" + namespace.strip("/") + "/" + cluster + "/"
    return {name: base + name for name in ("leader", "config", "failover", "sync", "members/", VERDICTS)}


def tcp_answers(address, timeout):
    """True when (host, port) accepts a TCP connection within `timeout` seconds."""
    try:
        with socket.create_connection(address, timeout=timeout):
            return True
    except OSError:
        return False


def address_of(url, default_port):
    """(host, port) of a member's api_url or conn_url, or None."""
    try:
        parts = urllib.parse.urlsplit(url or "")
        return (parts.hostname, parts.port or default_port) if parts.hostname else None
    except ValueError:
        return None


def _json(text):
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def sync_standbys(sync):
    """Names in the sync key's sync_standby (Patroni writes one name or a comma-separated list)."""
    value = (sync or {}).get("sync_standby") or ""
    names = value if isinstance(value, list) else str(value).split(",")
    return [name.strip() for name in names if name and name.strip()]


def failover_asked(value):
    """Whether the failover key asks for a switchover or failover now.

    Patroni leaves the key behind once one is done, as `{}` (or empty); one
    asked holds a leader, a member or a scheduled time. A value that is no
    JSON mapping counts as asked: the observer then waits.
    """
    if not value:
        return False
    try:
        parsed = json.loads(value)
    except ValueError:
        return True
    if not isinstance(parsed, dict):
        return True
    return any(parsed.get(key) for key in ("leader", "member", "scheduled_at"))


def _running_and_answers(member, probe):
    """A member Patroni reports running whose PostgreSQL port accepts a connection."""
    address = address_of(member.get("conn_url"), 5432)
    return member.get("state") == "running" and address is not None and probe(address)


def judge(leader, lease_ttl, granted_ttl, config, failover, sync, members, probe, args):
    """Why the leader must not be declared dead (a short word), or None when it is dead.

    leader: the leader key's holder; lease_ttl/granted_ttl: its lease's
    remaining and granted seconds; config, failover, sync: the parsed keys (or
    None); members: {name: member data}; probe(address) -> bool.
    """
    if (config or {}).get("pause"):
        return "paused"
    if failover_asked(failover):
        return "failover-asked"
    silent = granted_ttl - lease_ttl if lease_ttl >= 0 else granted_ttl
    if silent <= args.loop_wait + args.margin:
        return "lease-renewed"
    data = members.get(leader) or {}
    api = address_of(data.get("api_url"), 8008)
    conn = address_of(data.get("conn_url"), 5432)
    if api is None or conn is None:
        return "leader-unknown"
    if probe(api) or probe(conn):
        return "leader-answers"
    if not args.allow_async:
        if not any(_running_and_answers(members.get(name) or {}, probe)
                   for name in sync_standbys(sync) if name != leader):
            return "no-sync-standby"
    return None


def step(gateway, args, probe=None, state=None):
    """One round. Returns a short word for what happened (for the log and the tests)."""
    probe = probe or (lambda address: tcp_answers(address, args.probe_timeout))
    state = state if state is not None else {}
    path = keys(args.namespace, args.cluster)
    mine = path[VERDICTS] + args.name
    try:
        leader, kv = gateway.get(path["leader"])
        if leader is None:
            return _withdraw(gateway, mine, state, "no-leader")
        if leader == args.name:
            return _withdraw(gateway, mine, state, "self-leads")
        lease = kv.get("lease")
        if not lease or lease == "0":
            return _withdraw(gateway, mine, state, "no-lease")
        lease_ttl, granted_ttl = gateway.time_to_live(lease)
        cluster = gateway.get_prefix(path["leader"].rsplit("/", 1)[0] + "/")
    except etcd.EtcdUnavailable as error:
        # Cut off from etcd's majority, etcd down, or refused: no verdict stands for this observer.
        state.pop("verdict", None)
        state["etcd_error"] = str(error)
        return "etcd-unreachable"
    members = {key[len(path["members/"]):]: _json(value) or {}
               for key, value in cluster.items() if key.startswith(path["members/"])}
    why = judge(leader, lease_ttl, granted_ttl, _json(cluster.get(path["config"])),
                cluster.get(path["failover"]), _json(cluster.get(path["sync"])), members, probe, args)
    if why:
        return _withdraw(gateway, mine, state, why)
    verdict = {"leader": leader, "mod_revision": str(kv.get("mod_revision")), "lease": str(lease)}
    if state.get("verdict") != verdict or time.monotonic() >= state.get("renew_at", 0):
        ttl_lease = gateway.grant(args.verdict_ttl)
        if not ttl_lease or not gateway.put(mine, json.dumps(verdict, sort_keys=True), ttl_lease):
            return "verdict-not-written"
        if state.get("verdict") != verdict:
            LOG.warning("leader %s looks dead: its lease was last renewed %s s ago and neither its REST API "
                        "nor PostgreSQL answers", leader, granted_ttl - max(lease_ttl, 0))
        state.update(verdict=verdict, renew_at=time.monotonic() + args.verdict_ttl / 2.0)
    agreeing = sum(1 for key, value in cluster.items()
                   if key.startswith(path[VERDICTS]) and key != mine and _json(value) == verdict) + 1
    if agreeing < args.observers // 2 + 1:
        return "waiting-for-quorum"
    if gateway.delete_if(path["leader"], verdict["mod_revision"], verdict["lease"]):
        LOG.warning("%s of %s observers agree that leader %s is dead: removed its leader key (revision %s); "
                    "Patroni elects a new leader", agreeing, args.observers, leader, verdict["mod_revision"])
        return "leader-removed"
    return "leader-changed"


def _withdraw(gateway, mine, state, outcome):
    """Take this observer's verdict back (once), and say why."""
    if state.pop("verdict", None) is not None:
        gateway.delete(mine)
    return outcome


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--etcd", action="append", required=True, help="an etcd client URL (repeatable)")
    parser.add_argument("--cacert", help="CA that signed etcd's certificates")
    parser.add_argument("--cert", help="client certificate for etcd")
    parser.add_argument("--key", help="its key")
    parser.add_argument("--credentials", required=True,
                        help="file holding user:password for etcd, or its name in $CREDENTIALS_DIRECTORY")
    parser.add_argument("--namespace", default="/service/", help="Patroni's namespace")
    parser.add_argument("--cluster", required=True, help="Patroni's scope (the cluster's name)")
    parser.add_argument("--name", required=True, help="this member's Patroni name")
    parser.add_argument("--observers", type=int, required=True, help="how many observers the cluster has")
    parser.add_argument("--loop-wait", type=float, required=True, help="Patroni's loop_wait")
    parser.add_argument("--margin", type=float, default=1.0,
                        help="seconds of lease silence beyond loop_wait before the leader may be judged")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between rounds")
    parser.add_argument("--probe-timeout", type=float, default=1.0, help="TCP connect timeout per probe")
    parser.add_argument("--verdict-ttl", type=int, default=3, help="lease of a verdict in etcd, seconds")
    parser.add_argument("--timeout", type=float, default=1.0, help="HTTP timeout per etcd request")
    parser.add_argument("--allow-async", action="store_true",
                        help="judge without a running synchronous standby (acknowledged commits may be lost)")
    parser.add_argument("--once", action="store_true", help="one round, then exit")
    args = parser.parse_args(argv)
    if args.observers < 1:
        parser.error("--observers must be at least 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    credentials = etcd.read_credentials(args.credentials)
    if not credentials:
        LOG.error("cannot read etcd's user:password from %s: every etcd request will be refused",
                  args.credentials)
    gateway = etcd.Gateway(args.etcd, args.cacert, args.cert, args.key, credentials, timeout=args.timeout)
    LOG.info("observing %s as %s: %s observers, a majority of %s; a leader whose lease is silent for more "
             "than %s s and whose ports do not answer is dead; etcd at %s", args.cluster, args.name,
             args.observers, args.observers // 2 + 1, args.loop_wait + args.margin, ", ".join(args.etcd))
    state, last = {}, None
    while True:
        try:
            outcome = step(gateway, args, state=state)
        except Exception as exc:  # noqa: BLE001 - a bad round must not stop the service
            LOG.warning("round failed: %s", exc)
            outcome = "error"
        if args.once:
            print(outcome)
            return 0
        if outcome != last and outcome in ("etcd-unreachable", "no-sync-standby", "verdict-not-written"):
            LOG.info("observer: %s%s", outcome,
                     f": {state.get('etcd_error')}" if outcome == "etcd-unreachable" else "")
        last = outcome
        time.sleep(args.interval)


if __name__ == "__main__":
    raise SystemExit(main())

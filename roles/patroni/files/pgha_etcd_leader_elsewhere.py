#!/usr/bin/env python3
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keep the etcd leader off the node that runs the Patroni leader.

Why: a new etcd leader renews every lease for its full TTL. When one crash
takes both the Patroni leader and the etcd leader, Patroni's leader key then
lives a whole ttl after the etcd election instead of ttl after its last
renewal, and writes stop that much longer (2-4 s with ttl 20). Handing etcd
leadership to another member beforehand, a graceful transfer without an
election timeout, removes that term.

Runs as a small service on nodes where etcd and Patroni live together. Every
--interval seconds: if the local Patroni answers GET /primary with 200 and the
local etcd member is the etcd leader, it transfers etcd leadership to the most
caught-up other voting member that answers and whose node does not run a
Patroni primary of its own (so two clusters sharing the etcd nodes do not hand
the leadership back and forth). Only the etcd v3 JSON gateway and the Patroni
REST API are used: the standard library is enough, no etcdctl needed.

etcd speaks TLS and wants a client certificate (--cacert, --cert, --key) and,
with authentication on, a user: moving the leadership is root's right, so the
service logs in as root with the credentials systemd hands it (LoadCredential,
a file holding `root:<password>`); they never appear on a command line.

HTTP goes through patroni_core.py, the collection's Patroni REST client, and
pgha_etcd_gateway.py, which the patroni role installs beside this file (in
the source tree: plugins/module_utils/ and roles/patroni/files/).
"""

import argparse
import logging
import time
import urllib.parse

import patroni_core
import pgha_etcd_gateway as etcd

LOG = logging.getLogger("pgha-etcd-leader-elsewhere")

# Set by configure(): etcd's gateway client (TLS, client certificate, credentials);
# its transport serves the Patroni REST API as well.
GATEWAY = etcd.Gateway([])


def configure(cacert=None, cert=None, key=None, credentials=None):
    """TLS (a CA and a client certificate) for https URLs; `credentials` is `user:password`."""
    global GATEWAY
    GATEWAY = etcd.Gateway([], cacert, cert, key, credentials)


def request(url, body=None, timeout=2.0):
    """Return (status, parsed JSON or None); status 0 when nothing answered."""
    return GATEWAY.request_at(url, body, timeout)


def is_primary(patroni_url, timeout):
    """True when the Patroni REST API at patroni_url says it runs a writable primary (GET /primary)."""
    client = patroni_core.PatroniClient([patroni_url], GATEWAY.transport, timeout=timeout, retries=0,
                                        option_names={"urls": "--patroni", "ca": "--cacert"})
    return client.health(patroni_url, "primary") == 200


def etcd_status(endpoint, timeout):
    status, body = request(endpoint.rstrip("/") + "/v3/maintenance/status", {}, timeout)
    return body if status == 200 and isinstance(body, dict) else None


def etcd_members(endpoint, timeout):
    status, body = request(endpoint.rstrip("/") + "/v3/cluster/member/list", {}, timeout)
    if status != 200 or not isinstance(body, dict):
        return None
    return body.get("members") or []


def patroni_url_of(member, port, scheme="https"):
    """The Patroni REST URL on the host of an etcd member (its first client URL's host).

    `scheme` is the one of this node's own REST API (--patroni): every member serves the same.
    """
    urls = member.get("clientURLs") or []
    if not urls:
        return None
    host = urllib.parse.urlsplit(urls[0]).hostname
    if host is None:
        return None
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def choose_target(self_id, members, statuses, primaries):
    """Pick the member to hand etcd leadership to, or None.

    members: the member list (dicts with ID, name, isLearner); statuses: member
    ID -> its /v3/maintenance/status answer, or None if it did not answer;
    primaries: IDs of members whose node runs a Patroni primary. The target
    must be a voting member other than this one that answered and runs no
    primary; among those the one with the highest raft index (the least to
    catch up), then the lowest name.
    """
    candidates = []
    for member in members:
        member_id = str(member.get("ID", ""))
        if not member_id or member_id == str(self_id) or member.get("isLearner"):
            continue
        status = statuses.get(member_id)
        if not status or member_id in primaries:
            continue
        candidates.append((-int(status.get("raftIndex") or 0), member.get("name") or "", member_id))
    return min(candidates)[2] if candidates else None


def step(args):
    """One round. Returns a short word for what happened (for the log and the tests)."""
    if not is_primary(args.patroni, args.timeout):
        return "not-primary"
    local = etcd_status(args.etcd, args.timeout)
    if local is None:
        return "etcd-unreachable"
    self_id = str(local.get("header", {}).get("member_id", ""))
    if not self_id or str(local.get("leader", "")) != self_id:
        return "not-etcd-leader"
    members = etcd_members(args.etcd, args.timeout)
    if not members:
        return "etcd-unreachable"
    statuses, primaries = {}, set()
    for member in members:
        member_id = str(member.get("ID", ""))
        if member_id == self_id:
            continue
        urls = member.get("clientURLs") or []
        statuses[member_id] = etcd_status(urls[0], args.timeout) if urls else None
        patroni = patroni_url_of(member, args.patroni_port, urllib.parse.urlsplit(args.patroni).scheme)
        if patroni and is_primary(patroni, args.timeout):
            primaries.add(member_id)
    target = choose_target(self_id, members, statuses, primaries)
    if target is None:
        LOG.warning("this node leads etcd and runs the Patroni primary, but no other etcd member "
                    "can take the lead (none answered, or each runs a primary)")
        return "no-target"
    names = {str(m.get("ID")): m.get("name") or str(m.get("ID")) for m in members}
    status, body = request(args.etcd.rstrip("/") + "/v3/maintenance/transfer-leadership",
                           {"targetID": target}, args.transfer_timeout)
    if status != 200:
        LOG.warning("moving the etcd leader to %s failed: HTTP %s %s", names.get(target, target),
                    status or "no answer", body)
        return "transfer-failed"
    LOG.info("moved the etcd leader from %s to %s: this node runs the Patroni primary",
             names.get(self_id, self_id), names.get(target, target))
    return "moved"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patroni", required=True,
                        help="this node's Patroni REST API, https://host:port (checked against --cacert)")
    parser.add_argument("--patroni-port", type=int, default=8008,
                        help="Patroni REST port on the other etcd members' hosts")
    parser.add_argument("--etcd", default="https://127.0.0.1:2379", help="this node's etcd client URL")
    parser.add_argument("--cacert", help="CA that signed etcd's certificates")
    parser.add_argument("--cert", help="client certificate for etcd")
    parser.add_argument("--key", help="its key")
    parser.add_argument("--credentials", default="etcd-root",
                        help="file holding user:password for etcd, or its name in $CREDENTIALS_DIRECTORY")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between rounds")
    # Short: a member that rejoins after a partition can force an election
    # seconds after a transfer (etcd 3.4 runs without pre-vote), and the
    # leadership must come off this node again before the next fault.
    parser.add_argument("--holdoff", type=float, default=5.0,
                        help="seconds to wait after a transfer before the next round")
    parser.add_argument("--timeout", type=float, default=1.0, help="HTTP timeout per request")
    parser.add_argument("--transfer-timeout", type=float, default=5.0)
    parser.add_argument("--once", action="store_true", help="one round, then exit")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    configure(args.cacert, args.cert, args.key, etcd.read_credentials(args.credentials))
    while True:
        try:
            outcome = step(args)
        except Exception as exc:  # noqa: BLE001 - a bad round must not stop the service
            LOG.warning("round failed: %s", exc)
            outcome = "error"
        if args.once:
            print(outcome)
            return 0
        time.sleep(args.holdoff if outcome == "moved" else args.interval)


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Take a scheduled pgBackRest backup if this member is the cluster's running primary.

Every member of a cluster has the same backup timers; each run asks the local
Patroni REST API (GET /patroni, over HTTPS checked against the deployment's
CA) what this member is, and only the running primary backs up. A failover
moves the schedule with the leadership, without a deploy.

- running primary (a paused cluster too: it still has one): runs
  `pgbackrest --config=... --stanza=... --type=... backup` and exits with
  pgBackRest's exit code;
- any other member: one line "not the primary, skipped", exit 0;
- Patroni does not answer, or this member holds the leader key but its
  PostgreSQL is not running: a message and exit 1, so the unit fails and an
  operator sees that no backup was taken here.

The secrets (S3 keys, cipher passphrase) are in pgbackrest.conf, never on the
command line. Patroni's GET endpoints need no credentials.

HTTP goes through patroni_core.py, the collection's Patroni REST client,
which the pgbackrest role installs beside this file (in the source tree it is
plugins/module_utils/patroni_core.py, found on PYTHONPATH).
"""

import argparse
import subprocess
import sys

import patroni_core

BACKUP_TYPES = ("full", "diff", "incr")
# Exit codes: 0 backed up or skipped, 1 the operator must look (no backup here), else pgBackRest's own.
EXIT_ATTENTION = 1


def member_state(url, transport, timeout=5.0, retries=2):
    """GET /patroni of this member: its role and PostgreSQL state. Raises patroni_core.PatroniError."""
    client = patroni_core.PatroniClient([url], transport, timeout=timeout, retries=retries,
                                        option_names={"urls": "--patroni", "ca": "--cacert"})
    return client.member(url)


def decide(member):
    """("backup" | "skip" | "attention", message) from this member's GET /patroni answer."""
    role = member.get("role") or "unknown"
    state = member.get("state") or "unknown"
    if role not in patroni_core.PRIMARY_ROLES:
        return "skip", f"not the primary (role {role}, state {state}), skipped"
    if state != "running":
        return "attention", (f"this member holds the leader key but PostgreSQL is {state}, not running: "
                             "no backup taken; check patronictl list and Patroni's journal")
    return "backup", "the running primary" + (" (cluster paused)" if member.get("pause") else "")


def backup_argv(args):
    """pgBackRest's command line; no secret: those are in the configuration file."""
    return [args.pgbackrest, f"--config={args.config}", f"--stanza={args.stanza}", f"--type={args.type}",
            "backup"]


def run(args, transport, runner=subprocess.call, out=sys.stdout, err=sys.stderr):
    """One scheduled run; returns the exit code."""
    try:
        member = member_state(args.patroni, transport, args.timeout)
    except patroni_core.PatroniError as exc:
        print(f"Patroni did not say whether this member is the primary, no backup taken: {exc}. Check that "
              f"Patroni runs here (systemctl status patroni), that --patroni {args.patroni} is this member's "
              "REST API and that --cacert is the CA that signed its certificate", file=err)
        return EXIT_ATTENTION
    verdict, message = decide(member)
    if verdict == "skip":
        print(message, file=out)
        return 0
    if verdict == "attention":
        print(message, file=err)
        return EXIT_ATTENTION
    argv = backup_argv(args)
    print(f"{message}: {args.type} backup of stanza {args.stanza}: {' '.join(argv)}", file=out)
    out.flush()
    try:
        return runner(argv)
    except OSError as exc:
        print(f"cannot run {args.pgbackrest}: {exc}; is the pgbackrest package installed?", file=err)
        return EXIT_ATTENTION


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patroni", required=True,
                        help="this member's Patroni REST API, https://address:port (checked with --cacert)")
    parser.add_argument("--cacert", help="CA that signed the REST API's certificate")
    parser.add_argument("--stanza", required=True, help="pgBackRest stanza (the cluster's name)")
    parser.add_argument("--type", required=True, choices=BACKUP_TYPES, help="backup type")
    parser.add_argument("--config", default="/etc/pgbackrest/pgbackrest.conf", help="pgbackrest.conf")
    parser.add_argument("--pgbackrest", default="/usr/bin/pgbackrest", help="the pgbackrest program")
    parser.add_argument("--timeout", type=float, default=5.0, help="HTTP timeout per request")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    return run(args, patroni_core.stdlib_transport(ca_file=args.cacert))


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Watch how fast the AWS entry points follow a change of Patroni leader.

Polls, every --interval seconds and side by side, Patroni's GET /cluster and
the AWS API (the primary target group's registered targets, the primary
Route53 record). Run it, then cause a failover or a switchover; it stops once
the new leader is running and both entry points hold it, or after
--duration seconds. It prints JSON:

- promoted_at: first sample in which a member other than the first leader is
  the running leader (Epoch seconds);
- target_group_at / record_at: first sample in which the primary target group
  holds exactly the new leader, and the primary record points at it;
- *_after_promotion_s: the difference, i.e. how long the cloud API lagged;
- max_primary_targets: the most targets the primary group ever held in one
  sample (more than 1 would be two primaries behind the NLB).

The resolution is the poll interval plus one API round trip. Exit status 0
when both entry points followed, 1 when not within --duration, 2 on bad input.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "collections"))

from ansible_collections.pgha.cloud.plugins.module_utils import aws as awslib  # noqa: E402
from ansible_collections.pgha.cloud.plugins.module_utils import patroni_core  # noqa: E402

# How Patroni errors name this tool's options.
PATRONI_OPTIONS = {"urls": "--patroni", "ca": "--patroni-ca"}


def patroni_client(urls, cafile=None, timeout=1.0):
    """The Patroni client of the samples: one try per member, and the member that answered asked
    first next time, so a crashed one costs its timeout once, not at every sample."""
    return patroni_core.PatroniClient(urls, patroni_core.stdlib_transport(ca_file=cafile), timeout=timeout,
                                      retries=0, option_names=PATRONI_OPTIONS, sticky=True)


def primary_now(client):
    """(name, host) of the running primary, from the first member that answers; None if none runs
    or none answers."""
    try:
        view = client.cluster()
    except patroni_core.PatroniError:
        return None
    member = patroni_core.running_primary(view)
    return (member.get("name"), member.get("host")) if member else None


def record_ips(aws, zone_id, name):
    rrsets = awslib.record_sets(aws, zone_id, name)
    return sorted(v["Value"] for r in rrsets for v in r.get("ResourceRecords") or [])


def watch(args, aws, now=time.time, sleep=time.sleep):
    first = None
    out = dict(initial_leader=None, new_leader=None, promoted_at=None, target_group_at=None, record_at=None,
               max_primary_targets=0, samples=0, errors=0, started_at=now())
    end = now() + args.duration
    client = patroni_client(args.patroni, getattr(args, "patroni_ca", None))
    while now() < end:
        at = now()
        current = primary_now(client)
        try:
            targets = [ip for ip, _port in awslib.registered_targets(aws, args.target_group_arn)] \
                if args.target_group_arn else None
            records = record_ips(aws, args.zone_id, args.record) if args.zone_id else None
        except awslib.AwsError as e:
            out["errors"] += 1
            out["last_error"] = str(e)
            sleep(args.interval)
            continue
        out["samples"] += 1
        if targets is not None:
            out["max_primary_targets"] = max(out["max_primary_targets"], len(targets))
        if first is None and current:
            first = current
            out["initial_leader"] = dict(name=current[0], host=current[1])
        if current and first and current != first and out["promoted_at"] is None:
            out["promoted_at"] = at
            out["new_leader"] = dict(name=current[0], host=current[1])
        new = out["new_leader"]
        if new:
            if targets is not None and out["target_group_at"] is None and targets == [new["host"]]:
                out["target_group_at"] = at
            if records is not None and out["record_at"] is None and records == [new["host"]]:
                out["record_at"] = at
            if (targets is None or out["target_group_at"]) and (records is None or out["record_at"]):
                break
        sleep(max(0.0, args.interval - (now() - at)))
    for key in ("target_group", "record"):
        at = out[f"{key}_at"]
        out[f"{key}_after_promotion_s"] = (round(at - out["promoted_at"], 3)
                                           if at is not None and out["promoted_at"] else None)
    return out


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    p.add_argument("--patroni", action="append", required=True,
                   help="Patroni REST URL (repeat for each member)")
    p.add_argument("--patroni-ca", metavar="FILE", default=os.environ.get("PGHA_PATRONI_CA"),
                   help="CA certificate of the REST API (the deployment's .pki/ca.crt); "
                        "default $PGHA_PATRONI_CA, else the system's CAs")
    p.add_argument("--region", default=os.environ.get("AWS_REGION"))
    p.add_argument("--endpoint-url", help="AWS API URL (moto in tests)")
    p.add_argument("--target-group-arn", help="the primary target group")
    p.add_argument("--zone-id", help="hosted zone of the primary record")
    p.add_argument("--record", help="primary record name, e.g. pg-test-primary.db.internal")
    p.add_argument("--duration", type=float, default=120.0, help="give up after this many seconds")
    p.add_argument("--interval", type=float, default=0.2, help="seconds between samples")
    args = p.parse_args(argv)
    if not args.target_group_arn and not args.zone_id:
        p.error("give --target-group-arn, --zone-id with --record, or both")
    if bool(args.zone_id) != bool(args.record):
        p.error("--zone-id and --record go together")
    return args


def main(argv=None):
    args = parse(argv)
    try:
        aws = awslib.Aws(dict(region=args.region, endpoint_url=args.endpoint_url,
                              access_key=os.environ.get("AWS_ACCESS_KEY_ID"),
                              secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY")))
    except awslib.AwsError as e:
        print(f"pgha_entrypoint_watch: {e}", file=sys.stderr)
        return 2
    result = watch(args, aws)
    print(json.dumps(result, indent=2, sort_keys=True))
    followed = all(result[f"{k}_at"] for k, given in (("target_group", args.target_group_arn),
                                                      ("record", args.zone_id)) if given)
    return 0 if result["promoted_at"] and followed else 1


if __name__ == "__main__":
    sys.exit(main())

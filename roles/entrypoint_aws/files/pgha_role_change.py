#!/usr/bin/env python3
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Move the AWS entry points (NLB targets, Route53 records) when this node's role changes.

Three ways to run it:

- `--serve`: the pgha-entrypoint service on every node. It loads boto3 once
  and keeps its AWS client, handles each role change a callback hands it
  over a UNIX datagram socket (`wake_socket`) at once, and every
  `reconcile_interval` seconds reads GET /cluster and repairs any drift, on
  the running leader only (one writer at a time; a replica's service only
  reads).
- `<action> <role> <cluster>`: Patroni's on_role_change and on_stop
  callback. It hands the event to the service and returns within tens of
  milliseconds, without importing boto3 (a cold start costs 1.4 to 2.2 s).
  When no service listens, it does the work itself, as before.
- `--reconcile`: one reconcile run, by hand.

It never blocks or crashes Patroni: each run or event is bounded by a hard
deadline (SIGALRM), botocore timeouts are short, every error is logged, and
the callback's exit status is always 0. The service and a callback that
works on its own take a lock, so they never write at the same time.

The collection's module_utils (aws.py, entrypoints.py and patroni_core.py, the
Patroni REST client) sit in lib/ beside this file on the nodes; in the source
tree they are found on PYTHONPATH.
"""

import argparse
import contextlib
import fcntl
import json
import logging
import os
import select
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))

# Imported by load_libraries(), under the deadline: importing boto3 alone can take seconds on a busy node.
awslib = entrypoints = patroni_core = None
# How Patroni errors name this script's settings (the keys of its config file).
PATRONI_SETTINGS = {
    "urls": "patroni_urls",
    "ca": "patroni_ca_file",
    "credentials": "patroni_username and patroni_password",
}

DEFAULT_CONFIG = "/etc/pgha/entrypoint-aws.json"
# Roles Patroni passes to on_role_change when this node becomes the read-write primary.
PROMOTED_ROLES = ("primary", "master", "leader")
# Short API timeouts: the whole run must fit in the deadline, retries included.
AWS_DEFAULTS = dict(max_attempts=2, connect_timeout=1.0, read_timeout=2.0)
# Seconds past the deadline before the process ends itself, whatever it is doing.
GRACE = 1.0
# When the current run or event began: report() says how fast each write followed.
STARTED = time.monotonic()
# Callback actions the service takes from its socket; anything else is dropped with a log line.
ACTIONS = ("on_role_change", "on_stop", "on_start", "on_restart", "on_reload")
MAX_EVENT = 512
# The service's AWS client, made once (botocore's import and set-up are the cold start's cost).
_AWS = {}

log = logging.getLogger("pgha-role-change")


class Deadline(BaseException):
    """Raised by SIGALRM; a BaseException so that no library's `except Exception` swallows it."""


class ConfigError(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


class PatroniError(ConfigError):
    """No member's REST API answered; the message names each URL and its error."""


def _alarm(signum, frame):
    # Second chance first: if the Deadline is swallowed anyway, the next alarm ends the process.
    signal.signal(signal.SIGALRM, _exit_now)
    signal.setitimer(signal.ITIMER_REAL, GRACE)
    raise Deadline()


def _exit_now(signum, frame):
    log.error("still running %ss after the deadline: exiting", GRACE)
    logging.shutdown()
    os._exit(0)


def load_libraries():
    global awslib, entrypoints, patroni_core
    from ansible_collections.pgha.cloud.plugins.module_utils import aws as awslib
    from ansible_collections.pgha.cloud.plugins.module_utils import entrypoints, patroni_core


def _expected(error):
    """Errors whose message already says what is wrong: logged without a traceback."""
    known = (ConfigError,)
    if awslib is not None:
        known += (awslib.AwsError, entrypoints.EntrypointError)
    return isinstance(error, known)


def load_config(path):
    try:
        with open(path, encoding="utf-8") as f:
            cfg = json.load(f)
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read the config {path}: {e}") from None
    missing = [k for k in ("cluster", "node_name", "node_ip") if not cfg.get(k)]
    if missing:
        raise ConfigError(f"{path} lacks {', '.join(missing)}")
    if not cfg.get("nlb") and not cfg.get("route53"):
        raise ConfigError(f"{path} has neither an nlb nor a route53 section: nothing to keep in step")
    for key, default in (("deadline", 5.0), ("reconcile_interval", 10.0)):
        try:
            cfg[key] = float(cfg.get(key, default))
        except (TypeError, ValueError):
            raise ConfigError(f"{path}: {key} {cfg.get(key)!r} is not a number of seconds") from None
    return cfg


def aws_client(cfg):
    if _AWS.get("client") is not None:
        return _AWS["client"]
    settings = dict(AWS_DEFAULTS)
    settings.update({k: v for k, v in (cfg.get("aws") or {}).items() if v is not None})
    return awslib.Aws(settings)


def report(what, result):
    """Log one entry point's change, with the seconds since the process started (how fast it followed)."""
    took = time.monotonic() - STARTED
    if result["changed"]:
        log.info("%s: %s -> %s (at %.2fs)", what, result["before"], result["after"], took)
    else:
        log.info("%s: already right (%s)", what, result["after"])
    return result


def record_names(r53):
    return r53["primary_name"], r53["replica_name"]


def health_check(aws, cfg, ip, path, check):
    port = (cfg.get("route53") or {}).get("health_check_port")
    return awslib.health_check_id(aws, ip, port, path, check) if port else None


def holds_leader_key(cfg):
    """Whether this node's Patroni holds the leader key now: GET /leader on its own REST API (200 or not).

    Asked from Patroni itself, not from the DCS view of GET /cluster, which
    may lag a loop behind a promotion. Raises PatroniError when it does not
    answer: the primary entry points are then left to the reconciler.
    """
    urls = cfg.get("patroni_urls") or []
    if not urls:
        raise ConfigError("patroni_urls is not set: the callback cannot check that this node holds the "
                          "leader key, so it writes no primary entry point")
    client = patroni_client(urls[:1], float(cfg.get("patroni_timeout", 2)), cfg.get("patroni_username"),
                            cfg.get("patroni_password"), cfg.get("patroni_ca_file"))
    status = client.health(urls[0], "leader")
    if status == 0:
        raise PatroniError(f"{urls[0]}/leader did not answer: the primary entry points are left to the "
                           "reconciler")
    return status == 200


def promoted(aws, cfg, check):
    """This node is the new primary: it alone in the primary group and name, out of the replica ones.

    Fenced by the leader key: a callback that runs late, when this node no
    longer holds the key (a quick switchover back, a failover while the
    callback waited for the lock), writes nothing; one that loses the key
    while it writes takes its primary target out again. Two callbacks that
    overlap therefore never leave two primaries in the primary group.
    """
    ip, name, port = cfg["node_ip"], cfg["node_name"], int(cfg.get("data_port", 5432))
    nlb, r53 = cfg.get("nlb") or {}, cfg.get("route53") or {}
    if not holds_leader_key(cfg):
        log.warning("%s does not hold the leader key (GET /leader): a late callback; the primary entry "
                    "points are left to the leader", name)
        return
    if nlb.get("primary_target_group_arn"):
        report(
            "nlb primary",
            awslib.sync_targets(aws, nlb["primary_target_group_arn"], [ip], port, "primary", check),
        )
    if r53:
        ttl = int(r53.get("ttl", entrypoints.DEFAULT_TTL))
        primary_name, replica_name = record_names(r53)
        want = [
            entrypoints.primary_record(primary_name, ip, ttl, health_check(aws, cfg, ip, "/primary", check))
        ]
        report(
            f"route53 {primary_name}",
            awslib.sync_records(aws, r53["zone_id"], primary_name, want, True, check),
        )
    if nlb.get("replica_target_group_arn"):
        report("nlb replica", awslib.remove_target(aws, nlb["replica_target_group_arn"], ip, port, check))
    if r53:
        current = awslib.record_sets(aws, r53["zone_id"], replica_name)
        want = [
            r
            for r in current
            if r.get("SetIdentifier") != name
            and [v.get("Value") for v in r.get("ResourceRecords") or []] != [ip]
        ]
        if not want and r53.get("replica_fallback_primary", True):
            want = [
                entrypoints.replica_record(
                    replica_name, name, ip, ttl, health_check(aws, cfg, ip, "/primary", check)
                )
            ]
        report(
            f"route53 {replica_name}",
            awslib.sync_records(aws, r53["zone_id"], replica_name, want, True, check),
        )
    if not holds_leader_key(cfg):
        log.warning("%s lost the leader key while it wrote: taking it out of the primary group again", name)
        not_primary(aws, cfg, check)


def not_primary(aws, cfg, check):
    """Demoted or stopping: leave the primary group at once. The primary name is left for the new
    leader to take over (deleting it would be cached as NXDOMAIN)."""
    nlb = cfg.get("nlb") or {}
    if nlb.get("primary_target_group_arn"):
        report(
            "nlb primary",
            awslib.remove_target(
                aws, nlb["primary_target_group_arn"], cfg["node_ip"], int(cfg.get("data_port", 5432)), check
            ),
        )


def role_change(cfg, action, role, cluster, check=False):
    if cluster and cluster != cfg["cluster"]:
        log.error("called for cluster %s but configured for %s; nothing done", cluster, cfg["cluster"])
        return
    if action == "on_role_change" and role in PROMOTED_ROLES:
        log.info("%s became %s: taking the primary entry points", cfg["node_name"], role)
        promoted(aws_client(cfg), cfg, check)
    elif action in ("on_role_change", "on_stop"):
        log.info("%s: %s %s: leaving the primary entry points", cfg["node_name"], action, role)
        not_primary(aws_client(cfg), cfg, check)
    else:
        log.info("%s %s: nothing to do", action, role)


def patroni_client(urls, timeout=2.0, username=None, password=None, cafile=None):
    """A Patroni REST client for `urls`, one try per URL: the deadline leaves no room for retries.

    https URLs are checked against `cafile` (the deployment's CA), else the system's CAs.
    """
    if patroni_core is None:
        load_libraries()
    return patroni_core.PatroniClient(
        urls,
        patroni_core.stdlib_transport(ca_file=cafile),
        username=username,
        password=password,
        timeout=timeout,
        retries=0,
        option_names=PATRONI_SETTINGS,
    )


def fetch_cluster(urls, timeout=2.0, username=None, password=None, cafile=None):
    """GET /cluster from the first of `urls` that answers; raises PatroniError naming every URL tried."""
    if patroni_core is None:
        load_libraries()
    try:
        return patroni_client(urls, timeout, username, password, cafile).cluster()
    except patroni_core.PatroniError as e:
        raise PatroniError(e.message) from None


def reconcile(cfg, check=False):
    """Make every entry point match GET /cluster; only the running leader writes.

    Fenced like the callback: GET /cluster may name this node a loop after it
    lost the key, so it also asks its own Patroni (GET /leader) before it
    writes, and takes its target out of the primary group if it lost the key
    while it wrote.
    """
    cluster = fetch_cluster(
        cfg.get("patroni_urls") or [],
        timeout=float(cfg.get("patroni_timeout", 2)),
        username=cfg.get("patroni_username"),
        password=cfg.get("patroni_password"),
        cafile=cfg.get("patroni_ca_file"),
    )
    max_lag = int(cfg.get("replica_max_lag", entrypoints.DEFAULT_REPLICA_MAX_LAG))
    addresses = cfg.get("addresses") or {}
    leader = entrypoints.desired_members(cluster, "primary", max_lag, addresses)
    if [ip for _name, ip in leader] != [cfg["node_ip"]]:
        log.info(
            "reconcile: %s is not the running leader (leader: %s); the leader reconciles",
            cfg["node_name"],
            ", ".join(n for n, _ip in leader) or "none running",
        )
        return
    if not holds_leader_key(cfg):
        log.warning("reconcile: GET /cluster names %s the leader, but it does not hold the leader key "
                    "(GET /leader); the new leader reconciles", cfg["node_name"])
        return
    aws, port = aws_client(cfg), int(cfg.get("data_port", 5432))
    nlb, r53 = cfg.get("nlb") or {}, cfg.get("route53") or {}
    for service in entrypoints.SERVICES:
        arn = nlb.get(f"{service}_target_group_arn")
        if arn:
            ips = [ip for _name, ip in entrypoints.desired_members(cluster, service, max_lag, addresses)]
            report(f"nlb {service}", awslib.sync_targets(aws, arn, ips, port, service, check))
    if r53:
        primary_name, replica_name = record_names(r53)
        sync = awslib.sync_role_records(
            aws,
            r53["zone_id"],
            {"primary": primary_name, "replica": replica_name},
            cluster,
            int(r53.get("ttl", entrypoints.DEFAULT_TTL)),
            max_lag,
            addresses,
            r53.get("replica_fallback_primary", True),
            r53.get("health_check_port"),
            check,
        )
        report(f"route53 {primary_name}", sync["primary"])
        report(f"route53 {replica_name}", sync["replica"])
    if not holds_leader_key(cfg):
        log.warning("%s lost the leader key while it reconciled: taking it out of the primary group again",
                    cfg["node_name"])
        not_primary(aws, cfg, check)


@contextlib.contextmanager
def locked(path):
    """One writer per node: the callback and the timer wait for each other (within the deadline)."""
    if not path:
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def event_text(action, role, cluster):
    return " ".join(str(word or "-") for word in (action, role, cluster))


def parse_event(data):
    """(action, role, cluster) from a datagram, or None when it is not three known words."""
    try:
        words = data.decode("ascii").split()
    except UnicodeDecodeError:
        return None
    names_ok = all(word.replace("-", "").replace("_", "").isalnum() for word in words)
    if len(words) != 3 or words[0] not in ACTIONS or not names_ok:
        return None
    return tuple(words)


def hand_over(path, action, role, cluster):
    """Send the event to the service's socket; False when no service listens there."""
    if not path:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.5)
            sock.sendto(event_text(action, role, cluster).encode("ascii"), path)
        return True
    except OSError:
        # No socket (service stopped), nobody bound to it (refused), or its queue full.
        return False


def bounded(deadline, what, fn, *args):
    """Run fn(*args) under the deadline and log what went wrong, never raising: neither Patroni's
    callback nor the service may fail because of one run."""
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, deadline)
    try:
        fn(*args)
    except Deadline:
        log.error("%s stopped at the %ss deadline; the next reconcile finishes the job", what, deadline)
    except Exception as e:  # noqa: BLE001 - the service must outlive any one failed run
        if _expected(e):
            log.error("%s: %s", what, e.message)
        else:
            log.exception("%s: unexpected error", what)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, _alarm)


def open_socket(path):
    """Bind the service's datagram socket, readable and writable by its own account only."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    old = os.umask(0o177)
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    return sock


def serve(cfg, check=False):
    """The service: role changes from the socket at once, a reconcile every reconcile_interval seconds."""
    global STARTED
    deadline, interval = cfg["deadline"], cfg["reconcile_interval"]
    path = cfg.get("wake_socket")
    if not path:
        raise ConfigError("wake_socket is not set: the service has no socket for the callbacks")
    load_libraries()
    _AWS["client"] = None
    _AWS["client"] = aws_client(cfg)
    sock = open_socket(path)
    log.info("serving %s as %s: role changes from %s, a reconcile every %ss", cfg["cluster"],
             cfg["node_name"], path, interval)
    next_reconcile = time.monotonic()
    try:
        while True:
            wait = max(0.0, next_reconcile - time.monotonic())
            ready, _w, _x = select.select([sock], [], [], wait)
            if ready:
                data = sock.recv(MAX_EVENT)
                event = parse_event(data)
                if event is None:
                    log.warning("dropped a message that is not '<action> <role> <cluster>': %r", data[:80])
                    continue
                STARTED = time.monotonic()
                with locked(cfg.get("lock_file")):
                    bounded(deadline, "role change", role_change, cfg, *event, check)
            else:
                STARTED = time.monotonic()
                with locked(cfg.get("lock_file")):
                    bounded(deadline, "reconcile", reconcile, cfg, check)
                next_reconcile = time.monotonic() + interval
    finally:
        sock.close()
        with contextlib.suppress(OSError):
            os.unlink(path)


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=os.environ.get("PGHA_ENTRYPOINT_CONFIG", DEFAULT_CONFIG))
    parser.add_argument("--reconcile", action="store_true", help="repair drift from GET /cluster, once")
    parser.add_argument("--serve", action="store_true",
                        help="run as the service: role changes from wake_socket, a reconcile every "
                             "reconcile_interval seconds")
    parser.add_argument("--check", action="store_true", help="log what would change, change nothing")
    parser.add_argument("action", nargs="?", help="Patroni callback action (on_role_change, on_stop, ...)")
    parser.add_argument("role", nargs="?", help="role Patroni passes (primary, replica, ...)")
    parser.add_argument("cluster", nargs="?", help="cluster (scope) Patroni passes")
    return parser.parse_args(argv)


def main(argv=None):
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="pgha-role-change: %(levelname)s %(message)s"
    )
    try:
        args = parse(argv)
    except SystemExit:
        return 0
    if args.serve:
        return run_service(args)
    try:
        cfg = load_config(args.config)
    except ConfigError as e:
        log.error("%s", e.message)
    else:
        what = "reconcile" if args.reconcile else f"{args.action} {args.role}"
        bounded(cfg["deadline"], what, run_once, cfg, args)
    log.info("finished in %.2fs", time.monotonic() - STARTED)
    return 0


def run_once(cfg, args):
    """The callback (handed to the service when one listens) or one --reconcile run."""
    if not args.reconcile and not args.check and hand_over(cfg.get("wake_socket"), args.action, args.role,
                                                           args.cluster):
        log.info("%s %s: handed to the entry point service", args.action, args.role)
        return
    load_libraries()
    with locked(cfg.get("lock_file")):
        if args.reconcile:
            reconcile(cfg, args.check)
        else:
            role_change(cfg, args.action, args.role, args.cluster, args.check)


def run_service(args):
    """--serve: exit 1 on a configuration it cannot serve (systemd restarts it and the journal says why)."""
    try:
        cfg = load_config(args.config)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        serve(cfg, args.check)
    except ConfigError as e:
        log.error("%s", e.message)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

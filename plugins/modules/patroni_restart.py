#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: patroni_restart
short_description: Restart PostgreSQL on one Patroni member and wait until it is back
version_added: 0.2.0
description:
  - Restarts PostgreSQL on the member O(member) through C(POST /restart) on that member's REST API
    (the URL Patroni advertises for it in C(GET /cluster)); Patroni stops and starts PostgreSQL
    itself, Patroni keeps running.
  - By default only restarts a member that needs it, that is one flagged C(pending_restart) because
    a changed parameter (C(max_connections), C(shared_buffers), ...) only takes effect after a restart.
  - Afterwards waits until the member runs again (a replica streams from the leader), PostgreSQL
    reports a new start time and C(pending_restart) is cleared, both in the member's own
    C(GET /patroni) and in C(GET /cluster). A member that is back but stays flagged for two of
    Patroni's loops is reported with RV(still_pending) and a warning instead of being waited for.
  - Refuses to restart the leader unless O(allow_leader=true); restarting the leader in place stops
    writes for the whole restart. Switch over first (M(pgha.cloud.patroni_switchover)), then restart
    the former leader as a replica.
author:
  - pgha.cloud contributors (@pgha-cloud)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - pgha.cloud.attributes.no_diff
  - pgha.cloud.patroni
options:
  member:
    description:
      - Name of the member to restart, as Patroni knows it (C(<pg_cluster>-<pg_seq>) with this collection).
    type: str
    required: true
  only_if_pending:
    description:
      - Restart only when the member is flagged C(pending_restart); otherwise do nothing and report no change.
      - The request also carries C(restart_pending), so Patroni itself refuses the restart if the flag
        was cleared in the meantime.
      - Set to V(false) to restart in any case.
    type: bool
    default: true
  allow_leader:
    description:
      - Allow restarting the member that currently leads. Writes stop until PostgreSQL is back.
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait for the restart request and then for the member to run (and stream) again
        with C(pending_restart) cleared.
    type: int
    default: 120
notes:
  - "Check mode: full support; reports whether the member would be restarted without sending
    C(POST /restart)."
  - "Diff mode: not supported."
  - "Idempotency: full with O(only_if_pending=true) (the default); a member without a pending restart
    is left alone. With O(only_if_pending=false) every run restarts."
  - Requires O(api_username) and O(api_password) when the REST API enforces authentication.
  - Restarting a synchronous standby makes commits wait until Patroni picks another synchronous
    standby or the member is back; restart members one at a time.
"""

EXAMPLES = r"""
- name: Restart pg-test-2 if a changed parameter needs it
  pgha.cloud.patroni_restart:
    api_urls: [https://10.0.1.11:8008, https://10.0.2.11:8008, https://10.0.3.11:8008]
    ca_path: inventories/prod/.pki/ca.crt
    api_username: patroni
    api_password: "{{ patroni_rest_password }}"
    member: pg-test-2
  register: restarted

- name: Restart a replica whatever its state, waiting up to 10 minutes
  pgha.cloud.patroni_restart:
    api_urls: [https://10.0.1.11:8008]
    ca_path: inventories/prod/.pki/ca.crt
    api_username: patroni
    api_password: "{{ patroni_rest_password }}"
    member: pg-test-3
    only_if_pending: false
    wait_timeout: 600
"""

RETURN = r"""
member:
  description: Name of the member.
  returned: always
  type: str
  sample: pg-test-2
role:
  description: Role of the member before the restart (C(leader), C(sync_standby), C(replica), ...).
  returned: always
  type: str
  sample: sync_standby
pending_restart:
  description: Whether the member was flagged C(pending_restart) before the module ran.
  returned: always
  type: bool
  sample: true
restarted:
  description: Whether PostgreSQL was restarted (false in check mode and when nothing was to do).
  returned: always
  type: bool
  sample: true
still_pending:
  description:
    - Whether the member came back but stayed flagged C(pending_restart) (the module then warns).
    - Happens on a replica when a setting that a standby must hold at least as high as its primary
      (C(max_connections), C(max_worker_processes), C(max_wal_senders), C(max_prepared_transactions),
      C(max_locks_per_transaction)) was lowered; the leader must be restarted first then.
  returned: always
  type: bool
  sample: false
elapsed:
  description: Seconds from the restart request until the member was back (0 when nothing was sent).
  returned: always
  type: float
  sample: 4.1
members:
  description: The members as last seen, with the keys described for M(pgha.cloud.patroni_cluster_info).
  returned: always
  type: list
  elements: dict
msg:
  description: What happened, in one sentence.
  returned: always
  type: str
  sample: restarted pg-test-2 in 4.1 s; it streams again and no restart is pending
"""

import time  # noqa: E402

from ansible_collections.pgha.cloud.plugins.module_utils.patroni import run_module  # noqa: E402
from ansible_collections.pgha.cloud.plugins.module_utils.patroni_core import (  # noqa: E402
    LEADER_ROLES,
    PatroniError,
    describe_members,
    is_streaming,
    member_named,
    members_of,
    summarize_members,
)

POLL_INTERVAL = 1.0


def _status(client, api_url):
    """The member's own GET /patroni, or {} when it does not answer right now."""
    try:
        status = client.member(api_url)
    except PatroniError:
        return {}
    return status if isinstance(status, dict) else {}


def progress(cluster, status, name, leader, started_before):
    """'waiting' until `name` runs again after its restart (and streams if a replica), then
    'pending' while it is still flagged pending_restart, else 'done'."""
    m = member_named(cluster, name)
    # GET /patroni says "running" for a streaming replica too; /cluster says "streaming".
    if m is None or not status or status.get("state") not in ("running", "streaming"):
        return "waiting"
    if started_before and status.get("postmaster_start_time") == started_before:
        return "waiting"  # Patroni has not restarted PostgreSQL yet (or not reported it)
    if leader:
        if m.get("role") not in LEADER_ROLES or m.get("state") != "running":
            return "waiting"
    elif status.get("replication_state") not in (None, "streaming") or not is_streaming(m):
        return "waiting"
    if m.get("pending_restart") or status.get("pending_restart"):
        return "pending"
    return "done"


def wait_back(client, name, api_url, leader, started_before, deadline, timeout, grace):
    """The cluster once `name` is back with no restart pending; (cluster, True) if it came back but
    stayed flagged pending_restart for `grace` seconds (a restart there cannot apply the setting)."""
    last, last_error, pending_since = None, None, None
    while True:
        try:
            last = client.cluster()
            state = progress(last, _status(client, api_url), name, leader, started_before)
            if state == "done":
                return last, False
            if state == "pending":
                pending_since = pending_since or time.time()
                if time.time() - pending_since >= grace:
                    return last, True
            else:
                pending_since = None
        except PatroniError as e:
            last_error = e.message
        if time.time() >= deadline:
            seen = describe_members(last) if last else f"no answer ({last_error})"
            want = "run as leader" if leader else "stream from the leader"
            raise PatroniError(f"timed out after {timeout}s waiting for {name} to {want} with no restart "
                               f"pending; last seen: {seen}")
        time.sleep(POLL_INTERVAL)


def pending_grace(client):
    """Seconds a member that is back may stay flagged before the flag is taken as final: Patroni
    refreshes it once per loop, so two loops and some slack."""
    try:
        loop_wait = int((client.config() or {}).get("loop_wait", 10))
    except (PatroniError, TypeError, ValueError):
        loop_wait = 10
    return max(10, 2 * loop_wait + 5)


def run(module, client):
    p = module.params
    name = p["member"]
    cluster = client.cluster()
    m = member_named(cluster, name)
    if m is None:
        names = ", ".join(x.get("name") for x in members_of(cluster)) or "none"
        raise PatroniError(f"{name} is not a member of the cluster (members: {names})")
    if not m.get("api_url"):
        raise PatroniError(f"{name} advertises no REST API URL in GET /cluster "
                           f"({describe_members(cluster)}); is Patroni running there?")
    status = _status(client, m["api_url"])
    pending = bool(m.get("pending_restart") or status.get("pending_restart"))
    leader = m.get("role") in LEADER_ROLES
    result = dict(changed=False, member=name, role=m.get("role"), pending_restart=pending, restarted=False,
                  still_pending=False, elapsed=0.0, members=summarize_members(cluster))
    if p["only_if_pending"] and not pending:
        result["msg"] = f"{name} has no pending restart; nothing to do"
        return result
    if leader and not p["allow_leader"]:
        raise PatroniError(f"{name} is the leader: restarting it in place stops writes until PostgreSQL is "
                           f"back. Switch over first (pgha.cloud.patroni_switchover with leader={name}) and "
                           "restart it as a replica, or set allow_leader=true")
    result["changed"] = True
    if module.check_mode:
        result["msg"] = f"would restart PostgreSQL on {name} ({m.get('role')})"
        return result
    started = time.time()
    deadline = started + p["wait_timeout"]
    try:
        client.restart(m["api_url"], restart_pending=p["only_if_pending"],
                       timeout=max(p["api_timeout"], p["wait_timeout"]))
    except PatroniError as e:
        # A restart request that timed out may still complete: the wait below tells.
        if not e.outcome_unknown:
            if e.status == 503 and p["only_if_pending"] and "conditions are not satisfied" in e.message:
                # The flag we read was stale: Patroni found no pending restart when asked to restart.
                result.update(changed=False, pending_restart=False,
                              msg=f"{name} has no pending restart any more (Patroni refused "
                                  "restart_pending); nothing to do")
                return result
            if e.status == 401:
                raise
            raise PatroniError(f"Patroni did not restart {name}: {e.message}", status=e.status) from None
    final, still = wait_back(client, name, m["api_url"], leader, status.get("postmaster_start_time"),
                             deadline, p["wait_timeout"], pending_grace(client))
    elapsed = round(time.time() - started, 1)
    result.update(restarted=True, elapsed=elapsed, members=summarize_members(final), still_pending=still,
                  msg=f"restarted {name} in {elapsed} s; it {'leads' if leader else 'streams'} again and "
                      f"{'is STILL flagged pending_restart' if still else 'no restart is pending'}")
    if still:
        module.warn(f"{name} was restarted but is still flagged pending_restart. A replica keeps its "
                    "primary's value of max_connections, max_worker_processes, max_wal_senders, "
                    "max_prepared_transactions and max_locks_per_transaction when the new value is lower: "
                    "lowering one of those takes a restart of the leader first")
    return result


def main():
    run_module(dict(
        member=dict(type="str", required=True), only_if_pending=dict(type="bool", default=True),
        allow_leader=dict(type="bool", default=False), wait_timeout=dict(type="int", default=120)), run)


if __name__ == "__main__":
    main()

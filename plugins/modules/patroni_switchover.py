#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: patroni_switchover
short_description: Move the leader of a Patroni cluster to another member
version_added: 0.2.0
description:
  - Switches the leader of a Patroni cluster over to O(candidate), or to the best eligible replica
    (lowest lag) when no candidate is given, through C(POST /switchover) on any member.
  - Refuses a candidate that Patroni would refuse, before sending anything, with the member and the
    reason in the message; tagged C(nofailover) (or C(failover_priority 0)), not streaming, lagging
    more than C(maximum_lag_on_failover) from the DCS configuration, or, with C(synchronous_mode)
    on, not a synchronous standby.
  - After the request, waits until the new leader runs and every member that was healthy before
    (the old leader included) streams from it again, polling C(GET /cluster).
  - With O(force=true) and no healthy leader, promotes the candidate with C(POST /failover).
author:
  - pgha.cloud contributors (@pgha-cloud)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - pgha.cloud.attributes
  - pgha.cloud.patroni
options:
  candidate:
    description:
      - Member to promote. When omitted, the eligible replica with the lowest lag is chosen
        (ties broken by the higher C(failover_priority) tag, then by name).
    type: str
  leader:
    description:
      - The member expected to lead now, that is the member to move leadership away from.
      - When the cluster is led by someone else, the module fails, unless that someone is
        O(candidate), or O(candidate) is omitted (leadership has already moved away, nothing to do).
    type: str
  scheduled_at:
    description:
      - Schedule the switchover for this time instead of running it now, as an ISO 8601 timestamp
        with a time zone, for example C(2027-01-31T02:00:00+00:00). It must be in the future.
      - The module then returns once Patroni has accepted the schedule and does not wait.
    type: str
  force:
    description:
      - When there is no healthy leader, promote the candidate with C(POST /failover) instead of failing.
      - Has no effect while a healthy leader exists; a normal switchover is done then.
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait for the new leader to run and the other members to stream again.
    type: int
    default: 60
notes:
  - "Check mode: full support; reports what would be done (old and new leader) without sending
    any write request."
  - "Diff mode: full support; the diff shows the leader before and after."
  - "Idempotency: full when O(candidate) or O(leader) is given (the candidate already leads,
    or the expected leader no longer leads: nothing is done). Without either, every run switches
    over to the best replica, on purpose."
  - Requires O(api_username) and O(api_password) when the REST API enforces authentication.
  - A scheduled switchover that matches one already pending (same candidate, same time) is not sent again.
"""

EXAMPLES = r"""
- name: Move the leader to pg-test-2 and wait for the cluster to settle
  pgha.cloud.patroni_switchover:
    api_urls: [https://10.0.1.11:8008, https://10.0.2.11:8008, https://10.0.3.11:8008]
    ca_path: inventories/prod/.pki/ca.crt
    api_username: patroni
    api_password: "{{ patroni_rest_password }}"
    candidate: pg-test-2

- name: Move leadership away from pg-test-1 (before maintenance on it) to the best replica
  pgha.cloud.patroni_switchover:
    api_urls: [https://10.0.1.11:8008, https://10.0.2.11:8008]
    ca_path: inventories/prod/.pki/ca.crt
    api_username: patroni
    api_password: "{{ patroni_rest_password }}"
    leader: pg-test-1
    wait_timeout: 120
  register: moved

- name: Schedule a switchover for the night
  pgha.cloud.patroni_switchover:
    api_urls: [https://10.0.1.11:8008]
    ca_path: inventories/prod/.pki/ca.crt
    api_username: patroni
    api_password: "{{ patroni_rest_password }}"
    candidate: pg-test-3
    scheduled_at: "2027-01-31T02:00:00+00:00"

- name: Connection options once for every patroni module
  module_defaults:
    group/pgha.cloud.patroni:
      api_urls: [https://10.0.1.11:8008, https://10.0.2.11:8008]
      ca_path: inventories/prod/.pki/ca.crt
      api_username: patroni
      api_password: "{{ patroni_rest_password }}"
  block:
    - name: Promote pg-test-2 even though the leader is gone
      pgha.cloud.patroni_switchover:
        candidate: pg-test-2
        force: true
"""

RETURN = r"""
old_leader:
  description: The leader before the module ran (null if there was none).
  returned: always
  type: str
  sample: pg-test-1
new_leader:
  description: The leader afterwards; in check mode, or for a scheduled switchover, the leader it would be.
  returned: always
  type: str
  sample: pg-test-2
action:
  description: What was done (or would be done in check mode).
  returned: always
  type: str
  sample: switchover
  choices: [none, switchover, scheduled_switchover, failover]
members:
  description: The members as last seen, with the keys described for M(pgha.cloud.patroni_cluster_info).
  returned: always
  type: list
  elements: dict
elapsed:
  description: Seconds from the request to a settled cluster (0 when nothing was sent).
  returned: always
  type: float
  sample: 3.2
msg:
  description: What happened, in one sentence.
  returned: always
  type: str
"""

import time  # noqa: E402
from datetime import datetime, timezone  # noqa: E402

from ansible_collections.pgha.cloud.plugins.module_utils.patroni import run_module  # noqa: E402
from ansible_collections.pgha.cloud.plugins.module_utils.patroni_core import (  # noqa: E402
    PatroniError,
    best_candidate,
    candidate_errors,
    describe_members,
    healthy_leader,
    is_streaming,
    leader_key_holder,
    max_lag_of,
    member_named,
    members_of,
    summarize_members,
    sync_mode_of,
)

POLL_INTERVAL = 1.0


def parse_schedule(text):
    """ISO 8601 with a time zone, in the future; Patroni refuses anything else."""
    try:
        when = parse_time(text)
    except ValueError:
        raise PatroniError(f"scheduled_at={text!r} is not an ISO 8601 timestamp such as "
                           "2027-01-31T02:00:00+00:00") from None
    if when.tzinfo is None:
        raise PatroniError(f"scheduled_at={text!r} has no time zone; Patroni requires one (add +00:00)")
    if when <= datetime.now(timezone.utc):
        raise PatroniError(f"scheduled_at={text!r} is in the past; Patroni cannot schedule a switchover then")
    return when


def parse_time(text):
    return datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))


def same_schedule(pending, candidate, when):
    """Whether the switchover Patroni has pending is the one asked for."""
    if not pending or pending.get("to") != candidate:
        return False
    try:
        return parse_time(pending.get("at")) == when
    except (TypeError, ValueError):
        return False


def no_candidate_reasons(cluster, old, max_lag, sync_mode):
    reasons = []
    for m in members_of(cluster):
        if m.get("name") != old:
            why = "; ".join(candidate_errors(cluster, m.get("name"), max_lag, sync_mode))
            reasons.append(f"{m.get('name')}: {why}")
    return " | ".join(reasons) or "there are no replicas"


def plan(params, cluster, config):
    """Decide what to do: (action, old_leader, new_leader, message), or raise PatroniError."""
    old, healthy = leader_key_holder(cluster), healthy_leader(cluster)
    candidate, expected, when = params["candidate"], params["leader"], params["scheduled_at"]
    max_lag, sync_mode = max_lag_of(config), sync_mode_of(config)
    if candidate and candidate == old:
        return "none", old, old, f"{candidate} already leads"
    if expected and old != expected:
        if not candidate:
            return "none", old, old, f"{expected} no longer leads (the leader is {old}); nothing to do"
        raise PatroniError(f"expected {expected} to lead but the leader is {old}; check the leader option "
                           f"({describe_members(cluster)})")
    if not candidate:
        candidate = best_candidate(cluster, max_lag, sync_mode)
        if not candidate:
            raise PatroniError(f"no member can take over from {old}: "
                               f"{no_candidate_reasons(cluster, old, max_lag, sync_mode)}")
    errors = candidate_errors(cluster, candidate, max_lag, sync_mode)
    if errors:
        raise PatroniError(f"refusing to switch over to {candidate}: {'; '.join(errors)}")
    if healthy is None:
        if not params["force"]:
            raise PatroniError(f"there is no healthy leader ({describe_members(cluster)}); set force=true "
                               f"to promote {candidate} with a failover")
        if when:
            raise PatroniError(f"a failover cannot be scheduled; drop scheduled_at to promote {candidate}")
        return "failover", old, candidate, f"failover to {candidate}"
    if when:
        if same_schedule(cluster.get("scheduled_switchover"), candidate, parse_schedule(when)):
            return "none", old, candidate, f"a switchover to {candidate} is already scheduled at {when}"
        msg = f"switchover from {old} to {candidate} scheduled at {when}"
        return "scheduled_switchover", old, candidate, msg
    return "switchover", old, candidate, f"switchover from {old} to {candidate}"


def settled(cluster, candidate, followers):
    """The candidate leads and runs, and every expected follower streams."""
    leader = member_named(cluster, candidate)
    if leader is None or leader_key_holder(cluster) != candidate or leader.get("state") != "running":
        return False
    for name in followers:
        m = member_named(cluster, name)
        if m is None or not is_streaming(m):
            return False
    return True


def wait_settled(client, candidate, followers, timeout, waited=None):
    """Poll until settled() or `timeout` seconds; the message names `waited` (the user's wait_timeout)."""
    deadline = time.time() + timeout
    last, last_error = None, None
    while True:
        try:
            last = client.cluster()
            if settled(last, candidate, followers):
                return last
        except PatroniError as e:
            last_error = e.message
        if time.time() >= deadline:
            seen = describe_members(last) if last else f"no answer ({last_error})"
            waited_for = ", ".join(followers) or "no other member"
            raise PatroniError(f"timed out after {waited or timeout:.0f}s waiting for {candidate} to lead "
                               f"and {waited_for} to stream; last seen: {seen}")
        time.sleep(POLL_INTERVAL)


def run(module, client):
    p = module.params
    cluster, config = client.cluster(), client.config()
    action, old, candidate, msg = plan(p, cluster, config)
    after = candidate if action != "none" else old
    result = dict(changed=action != "none", action=action, old_leader=old, new_leader=candidate,
                  members=summarize_members(cluster), elapsed=0.0, msg=msg,
                  diff=dict(before=dict(leader=old), after=dict(leader=after)))
    if action == "none":
        return result
    if module.check_mode:
        result["msg"] = f"would run a {msg}"
        return result
    # Members healthy now (a running old leader included) must stream from the new leader afterwards.
    healthy = healthy_leader(cluster)
    followers = [m.get("name") for m in members_of(cluster)
                 if m.get("name") != candidate and (m.get("name") == healthy or is_streaming(m))]
    started, request_timeout = time.time(), max(p["api_timeout"], p["wait_timeout"])
    try:
        if action == "failover":
            client.failover(candidate, timeout=request_timeout)
        else:
            client.switchover(old, candidate, p["scheduled_at"], timeout=request_timeout)
    except PatroniError as e:
        # Patroni answers a switchover only once it is done: a timeout there is not a failure yet,
        # the wait below tells. A schedule that may not have been recorded is reported as such.
        if not e.outcome_unknown or action == "scheduled_switchover":
            raise
    if action == "scheduled_switchover":
        result["members"] = summarize_members(client.cluster())
        return result
    remaining = max(1, p["wait_timeout"] - (time.time() - started))
    final = wait_settled(client, candidate, followers, remaining, waited=p["wait_timeout"])
    result.update(members=summarize_members(final), elapsed=round(time.time() - started, 1),
                  msg=f"{msg} done; {candidate} leads")
    return result


def main():
    run_module(dict(
        candidate=dict(type="str"), leader=dict(type="str"), scheduled_at=dict(type="str"),
        force=dict(type="bool", default=False), wait_timeout=dict(type="int", default=60)), run)


if __name__ == "__main__":
    main()

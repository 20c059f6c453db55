#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: patroni_cluster_info
short_description: Read the state of a Patroni cluster from its REST API
version_added: 0.2.0
description:
  - Reads C(GET /cluster) and C(GET /config) from the first member in O(api_urls) that answers
    and returns the members (role, state, timeline, lag, tags), the leader, the synchronous
    standbys, whether the cluster is paused, a scheduled switchover if any, and the dynamic
    configuration held in the DCS.
  - The cluster's own state is the truth about which member leads; use this module instead of
    the inventory to find the primary.
author:
  - pgha.cloud contributors (@pgha-cloud)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - pgha.cloud.attributes.info_module
  - pgha.cloud.patroni
notes:
  - "Check mode: full support; the module only reads, so it runs the same in check mode."
  - "Diff mode: not applicable (nothing changes)."
  - "Idempotency: full; the module never changes anything."
  - Fails, listing every URL tried with its error, when no member answers.
"""

EXAMPLES = r"""
- name: Read the cluster state from any member
  pgha.cloud.patroni_cluster_info:
    api_urls:
      - https://10.0.1.11:8008
      - https://10.0.2.11:8008
      - https://10.0.3.11:8008
  register: pg_cluster

- name: Show the leader
  ansible.builtin.debug:
    msg: "{{ pg_cluster.leader }} leads; synchronous standbys: {{ pg_cluster.sync_standbys }}"

- name: Run a task on the current primary only
  ansible.builtin.command: /usr/local/bin/backup-now
  when: inventory_hostname == (pg_cluster.members | selectattr('name', 'equalto', pg_cluster.leader)
        | map(attribute='host') | first)
  changed_when: true
"""

RETURN = r"""
leader:
  description: Name of the member holding the leader key, or null when there is none.
  returned: always
  type: str
  sample: pg-test-1
sync_standbys:
  description: Names of the synchronous (or quorum) standbys.
  returned: always
  type: list
  elements: str
  sample: [pg-test-2]
paused:
  description: Whether the cluster is in maintenance mode (C(patronictl pause)).
  returned: always
  type: bool
  sample: false
scope:
  description: Cluster name (Patroni scope), when the API reports it.
  returned: always
  type: str
  sample: pg-test
scheduled_switchover:
  description: The scheduled switchover (C(at), C(from), C(to)), or null.
  returned: always
  type: dict
  sample: null
members:
  description: Every member as reported by C(GET /cluster).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Member name.
      type: str
    host:
      description: PostgreSQL host of the member.
      type: str
    port:
      description: PostgreSQL port of the member.
      type: int
    role:
      description: C(leader), C(sync_standby), C(quorum_standby), C(replica) or C(standby_leader).
      type: str
    state:
      description: C(running), C(streaming), C(stopped), C(starting) and so on.
      type: str
    timeline:
      description: PostgreSQL timeline.
      type: int
    lag:
      description: Replication lag in bytes; null for the leader or when Patroni reports it unknown.
      type: int
    tags:
      description: Patroni tags of the member (nofailover, failover_priority, ...).
      type: dict
    pending_restart:
      description: Whether PostgreSQL on the member must be restarted to apply a changed setting.
      type: bool
    api_url:
      description: REST API URL of the member.
      type: str
  sample:
    - {name: pg-test-1, host: 10.0.1.11, port: 5432, role: leader, state: running, timeline: 1,
       lag: null, tags: {}, pending_restart: false, api_url: "https://10.0.1.11:8008/patroni"}
config:
  description: Dynamic configuration held in the DCS (C(GET /config)).
  returned: always
  type: dict
  sample: {ttl: 30, loop_wait: 5, retry_timeout: 10, maximum_lag_on_failover: 1048576}
api_url:
  description: The URL that answered.
  returned: always
  type: str
  sample: https://10.0.1.11:8008
"""


from ansible_collections.pgha.cloud.plugins.module_utils.patroni import run_module  # noqa: E402
from ansible_collections.pgha.cloud.plugins.module_utils.patroni_core import (  # noqa: E402
    leader_key_holder,
    summarize_members,
    sync_standbys,
)


def cluster_facts(client):
    """Everything the module returns, from one /cluster and one /config read."""
    cluster = client.cluster()
    config = client.config()
    return dict(
        changed=False, leader=leader_key_holder(cluster), sync_standbys=sync_standbys(cluster),
        paused=bool(cluster.get("pause")), scope=cluster.get("scope"),
        scheduled_switchover=cluster.get("scheduled_switchover"),
        members=summarize_members(cluster), config=config, api_url=client.last_url)


def main():
    run_module({}, lambda module, client: cluster_facts(client))


if __name__ == "__main__":
    main()

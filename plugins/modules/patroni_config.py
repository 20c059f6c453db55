#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: patroni_config
short_description: Set Patroni's dynamic configuration (the DCS config) through its REST API
version_added: 0.2.0
description:
  - Compares O(settings) with C(GET /config) and sends C(PATCH /config) with only the keys that differ.
    Keys not named in O(settings) are left alone; a key set to null is deleted.
  - Dynamic settings live in the DCS after bootstrap (C(bootstrap.dcs) in C(patroni.yml) is read
    once), so this is how a changed RTO/RPO preset or a PostgreSQL parameter reaches a running cluster.
  - Refuses, before sending anything, values Patroni would reject or silently clamp, naming the rule
    broken; C(ttl >= 20), C(loop_wait >= 1), C(retry_timeout >= 3),
    C(loop_wait + 2 * retry_timeout <= ttl) (checked against the values already in the DCS for
    timing keys not given), integer timings and a non-negative C(maximum_lag_on_failover).
  - Reports the members that need a PostgreSQL restart to apply a changed parameter;
    it never restarts anything.
author:
  - pgha.cloud contributors (@pgha-cloud)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - pgha.cloud.attributes
  - pgha.cloud.patroni
options:
  settings:
    description:
      - Dynamic configuration keys and their wanted values, for example C(ttl), C(loop_wait),
        C(retry_timeout), C(synchronous_mode), C(maximum_lag_on_failover) and
        C(postgresql.parameters).
      - Values are compared the way PostgreSQL reads them (C(on)/C(true), C(200)/C("200") are equal).
    type: dict
    required: true
  pending_restart_wait:
    description:
      - Seconds to watch the members for C(pending_restart) after a change to C(postgresql.parameters);
        Patroni notices a change only at its next loop.
      - Defaults to C(loop_wait + 2) of the cluster, at most 30.
      - V(0) reads the state once without waiting.
    type: int
notes:
  - "Check mode: full support; computes and returns the patch and the resulting config without
    sending C(PATCH /config)."
  - "Diff mode: full support; before and after show only the keys that change."
  - "Idempotency: full; a second run with the same settings sends nothing and reports no change."
  - Requires O(api_username) and O(api_password) when the REST API enforces authentication.
  - Changing a parameter that needs a restart (C(shared_buffers), C(max_connections), ...) only
    marks the members C(pending_restart); restart them with C(patronictl restart) or the rolling
    restart playbook, replicas first.
"""

EXAMPLES = r"""
- name: Push the norm RTO preset and synchronous replication to the DCS
  pgha.cloud.patroni_config:
    api_urls: [https://10.0.1.11:8008, https://10.0.2.11:8008]
    ca_path: inventories/prod/.pki/ca.crt
    api_username: patroni
    api_password: "{{ patroni_rest_password }}"
    settings:
      ttl: 30
      loop_wait: 5
      retry_timeout: 10
      synchronous_mode: true
      maximum_lag_on_failover: 1048576

- name: Change PostgreSQL parameters cluster-wide
  pgha.cloud.patroni_config:
    api_urls: [https://10.0.1.11:8008]
    ca_path: inventories/prod/.pki/ca.crt
    api_username: patroni
    api_password: "{{ patroni_rest_password }}"
    settings:
      postgresql:
        parameters:
          work_mem: 16MB
          max_connections: 300
  register: pg_conf

- name: Say which members need a restart
  ansible.builtin.debug:
    msg: "restart needed on {{ pg_conf.pending_restart | join(', ') }}"
  when: pg_conf.pending_restart | length > 0
"""

RETURN = r"""
patch:
  description:
    - The body sent with C(PATCH /config) (in check mode, the one that would be sent).
    - Empty when nothing changes.
  returned: always
  type: dict
  sample: {loop_wait: 5, postgresql: {parameters: {work_mem: 16MB}}}
config:
  description: The dynamic configuration after the change (in check mode, as it would be).
  returned: always
  type: dict
  sample: {ttl: 30, loop_wait: 5, retry_timeout: 10, postgresql: {parameters: {work_mem: 16MB}}}
pending_restart:
  description: Names of the members whose PostgreSQL must be restarted to apply a setting
    (from C(GET /cluster) and each member's C(GET /patroni)).
  returned: always
  type: list
  elements: str
  sample: [pg-test-1, pg-test-2]
"""


from ansible_collections.pgha.cloud.plugins.module_utils.patroni import run_module  # noqa: E402
from ansible_collections.pgha.cloud.plugins.module_utils.patroni_core import (  # noqa: E402
    PatroniError,
    apply_patch,
    changed_view,
    config_errors,
    desired_patch,
    pending_restart_members,
    touches_parameters,
    watch_pending_restart,
)


def run(module, client):
    settings, current = module.params["settings"], client.config()
    errors = config_errors(settings, current)
    if errors:
        raise PatroniError("refusing settings Patroni would reject or clamp: {}".format("; ".join(errors)))
    patch = desired_patch(current, settings)
    expected = apply_patch(current, patch)
    result = dict(changed=bool(patch), patch=patch, config=expected,
                  diff=dict(before=changed_view(current, patch), after=changed_view(expected, patch)))
    if not patch or module.check_mode:
        result["pending_restart"] = pending_restart_members(client.cluster())
        return result
    answer = client.patch_config(patch)
    result["config"] = answer if isinstance(answer, dict) else client.config()
    wait = module.params["pending_restart_wait"]
    if wait is None:
        wait = min(int(result["config"].get("loop_wait", 10)) + 2, 30) if touches_parameters(patch) else 0
    result["pending_restart"] = watch_pending_restart(client, wait)
    if result["pending_restart"]:
        members = ", ".join(result["pending_restart"])
        module.warn(f"PostgreSQL needs a restart to apply the change on: {members}")
    return result


def main():
    run_module(dict(settings=dict(type="dict", required=True), pending_restart_wait=dict(type="int")), run)


if __name__ == "__main__":
    main()

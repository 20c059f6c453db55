# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters shared by the roles and playbooks; the logic lives in module_utils."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.pgha.cloud.plugins.module_utils import cluster, entrypoints, inventory_check, presets


def rto_plan(name=None, ttl=None, loop_wait=None, retry_timeout=None):
    """`pg_rto | pgha.cloud.rto_plan` -> the preset's timings (with overrides)."""
    try:
        return presets.rto_plan(name, {"ttl": ttl, "loop_wait": loop_wait,
                                       "retry_timeout": retry_timeout})
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def rpo_settings(rpo=None):
    """`pg_rpo | pgha.cloud.rpo_settings` -> synchronous_mode and the lag bound."""
    try:
        return presets.rpo_settings(rpo)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def inventory_errors(hostvars, groups):
    """`hostvars | pgha.cloud.inventory_errors(groups)` -> list of error strings."""
    return inventory_check.inventory_errors(hostvars, groups)


class FilterModule(object):
    def filters(self):
        return {
            "rto_plan": rto_plan,
            "rpo_settings": rpo_settings,
            "inventory_errors": inventory_errors,
            "node_addresses": cluster.node_addresses,
            "hosts_with_address": cluster.hosts_with_address,
            "api_urls": cluster.api_urls,
            "non_members": cluster.non_members,
            "sync_candidates": cluster.sync_candidates,
            "haproxy_routes": cluster.haproxy_routes,
            "etcd_initial_cluster": cluster.etcd_initial_cluster,
            "hba_rules": cluster.hba_rules,
            "config_patch": cluster.config_patch,
            "member_line": cluster.member_line,
            "patroni_callbacks": entrypoints.patroni_callbacks,
        }

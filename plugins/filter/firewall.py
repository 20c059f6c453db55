# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The firewall role's filter; the logic lives in module_utils/firewall.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.pgha.cloud.plugins.module_utils import firewall


def firewall_rules(hostvars, groups, host, admin_networks=None, ssh_client=None, allow=None, ssh_ports=None):
    """`hostvars | pgha.cloud.firewall_rules(groups, inventory_hostname, ...)`: one rule per port.

    Each rule is {proto, port, match, comment, ip, ip6}; see module_utils/firewall.py.
    """
    try:
        return firewall.firewall_rules(hostvars, groups, host, admin_networks or [], ssh_client, allow,
                                       ssh_ports or [22])
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from exc


class FilterModule(object):
    def filters(self):
        return {"firewall_rules": firewall_rules}

# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inventory plugin: group each cluster's hosts by the role Patroni reports now."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: patroni
short_description: Groups cluster hosts by their live Patroni role
version_added: 0.2.0
description:
  - Adds the hosts of every PostgreSQL cluster to C(<cluster>_primary) (the member holding the leader key
    and running) and C(<cluster>_replica) (running or streaming members that follow it), as Patroni reports
    them now, so a play can target the real primary after failovers.
  - It adds to an inventory that already defines the clusters (hosts with I(pg_cluster)); list it after that
    inventory, for example C(-i inventories/prod -i inventories/prod-live.patroni.yml). Keep the file
    outside the static inventory's directory, so the order of the sources is the one given.
  - Each cluster is asked through C(GET /cluster) on its members' REST API, trying one member after the
    other, at I(node_address) (else the host name) and I(patroni_rest_port) (else I(rest_port)).
  - Sets on each member the host variables C(pg_live_role), C(pg_live_state), C(pg_live_timeline) and
    C(pg_live_lag).
  - The file name must end in C(patroni.yml) or C(patroni.yaml).
options:
  plugin:
    description: Marks the file as this plugin's.
    required: true
    choices: [pgha.cloud.patroni]
    type: str
  clusters:
    description: Cluster names to ask; empty means every cluster found in the inventory.
    type: list
    elements: str
    default: []
  rest_port:
    description: Patroni REST port of hosts that do not set I(patroni_rest_port).
    type: int
    default: 8008
  timeout:
    description: Seconds to wait for one member's answer.
    type: float
    default: 3
  ca_path:
    description:
      - The deployment's CA certificate (C(.pki/ca.crt) beside the first inventory source, made by the
        pki role), which the REST API's HTTPS certificates are checked against.
      - When not given, the cluster's own I(pki_ca_cert), else C(ca.crt) in its I(pki_dir), if the
        inventory sets one; otherwise the file fails with a message asking for this option.
    type: path
  validate_certs:
    description:
      - Check the REST API's certificates. Turn off only to diagnose a certificate problem.
    type: bool
    default: true
  strict:
    description:
      - When true, a cluster none of whose members answers fails the inventory.
      - When false, it gets empty groups and a warning, so plays on other clusters still run.
    type: bool
    default: false
"""

EXAMPLES = r"""
# inventories/prod-live.patroni.yml
plugin: pgha.cloud.patroni
ca_path: inventories/prod/.pki/ca.crt
strict: true

# then: ansible-playbook -i inventories/prod -i inventories/prod-live.patroni.yml vacuum.yml
# with, in vacuum.yml:
#   - hosts: pg-test_primary
"""

# After the documentation, as Ansible's plugin conventions have it.
import os  # noqa: E402

from ansible.errors import AnsibleParserError  # noqa: E402
from ansible.inventory.helpers import get_group_vars  # noqa: E402
from ansible.plugins.inventory import BaseInventoryPlugin  # noqa: E402
from ansible.utils.display import Display  # noqa: E402
from ansible.utils.vars import combine_vars  # noqa: E402

from ansible_collections.pgha.cloud.plugins.module_utils.cluster import (  # noqa: E402
    api_urls,
    live_role_groups,
)
from ansible_collections.pgha.cloud.plugins.module_utils.patroni import open_url_transport  # noqa: E402
from ansible_collections.pgha.cloud.plugins.module_utils.patroni_core import (  # noqa: E402
    PatroniClient,
    PatroniError,
)

display = Display()


class InventoryModule(BaseInventoryPlugin):
    NAME = "pgha.cloud.patroni"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(("patroni.yml", "patroni.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        wanted = set(self.get_option("clusters"))
        hostvars = self._inventory_vars()
        clusters = {}
        for host, hvars in sorted(hostvars.items()):
            name = hvars.get("pg_cluster")
            if name and (not wanted or name in wanted):
                clusters.setdefault(str(name), []).append(host)
        for name in sorted(wanted - set(clusters)):
            raise AnsibleParserError(f"{path}: cluster {name!r} in `clusters` has no host with "
                                     f"pg_cluster: {name} in the inventories listed before this file")
        for name, hosts in sorted(clusters.items()):
            self._add_cluster(path, name, hosts, hostvars)

    def _inventory_vars(self):
        """Host and group variables of every host the earlier inventory sources defined."""
        out = {}
        for name, host in self.inventory.hosts.items():
            out[name] = combine_vars(get_group_vars(host.get_groups()), host.get_vars())
        return out

    def _ca_path(self, path, name, variables):
        """The CA file: the ca_path option, else the inventory's pki_ca_cert or pki_dir."""
        given = self.get_option("ca_path")
        if given:
            return given
        if variables.get("pki_ca_cert"):
            return str(variables["pki_ca_cert"])
        if variables.get("pki_dir"):
            return os.path.join(str(variables["pki_dir"]), "ca.crt")
        if not self.get_option("validate_certs"):
            return None
        raise AnsibleParserError(
            f"{path}: cluster {name}: set ca_path to the deployment's CA certificate (.pki/ca.crt beside "
            "the first inventory source, made by the pki role) so the REST API's certificate can be checked")

    def _add_cluster(self, path, name, hosts, hostvars):
        urls = api_urls(hosts, hostvars, self.get_option("rest_port"))
        try:
            transport = open_url_transport(validate_certs=self.get_option("validate_certs"),
                                           ca_path=self._ca_path(path, name, hostvars[hosts[0]]))
            state = PatroniClient(urls, transport, timeout=self.get_option("timeout"), retries=0).cluster()
        except PatroniError as e:
            if self.get_option("strict"):
                raise AnsibleParserError(f"{path}: cluster {name}: {e}") from None
            display.warning(f"pgha.cloud.patroni: cluster {name}: {e}; "
                            "its _primary and _replica groups stay empty")
            state = {"members": []}
        groups = live_role_groups(hosts, hostvars, state.get("members") or [])
        for role in ("primary", "replica"):
            group = self.inventory.add_group(f"{name}_{role}")
            for host in groups[role]:
                self.inventory.add_host(host, group=group)
        for host, member in groups["members"].items():
            for key in ("role", "state", "timeline", "lag"):
                self.inventory.set_variable(host, f"pg_live_{key}", member.get(key))

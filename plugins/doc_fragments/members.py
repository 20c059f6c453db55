# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Where the entry point modules get the live roles from; must match
    # plugins/module_utils/aws.py members_argument_spec(). List it before
    # pgha.cloud.patroni: its api_urls (optional here) wins.
    DOCUMENTATION = r"""
options:
  members:
    description:
      - Cluster members with C(name), C(host), C(role), C(state), C(lag) and C(tags), as in Patroni's
        C(GET /cluster) (or the C(members) returned by M(pgha.cloud.patroni_cluster_info)).
      - When not given, the module reads C(GET /cluster) from Patroni at O(api_urls).
    type: list
    elements: dict
  api_urls:
    description:
      - Patroni REST API base URLs of one or more members, for example C(https://10.0.1.11:8008);
        tried in order until one answers.
      - Required when O(members) is not given.
    required: false
  addresses:
    description:
      - Member name to IP address, for members whose Patroni C(host) is not the address to use.
    type: dict
    default: {}
  replica_max_lag:
    description:
      - Bytes of replication lag above which a replica no longer serves the replica service
        (the bound of Patroni's C(GET /replica?lag=) check).
    type: int
    default: 1048576
"""

# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Connection options of every patroni_* module; must match
    # plugins/module_utils/patroni.py connection_argument_spec().
    DOCUMENTATION = r"""
options:
  api_urls:
    description:
      - Patroni REST API base URLs of one or more cluster members, for example C(https://10.0.1.11:8008).
      - They are tried in order until one answers; any member can serve the cluster state and
        configuration and accept a switchover or a configuration change.
      - A trailing C(/patroni) is accepted and ignored.
    type: list
    elements: str
    required: true
  api_username:
    description:
      - User for HTTP basic authentication (C(restapi.authentication.username) in C(patroni.yml)).
      - Patroni requires it for write requests (C(PATCH /config), C(POST /switchover), C(POST /failover));
        read requests usually do not need it.
    type: str
  api_password:
    description:
      - Password for O(api_username).
    type: str
  api_timeout:
    description:
      - Seconds to wait for each HTTP request.
      - Connection errors are retried twice per URL before the next URL is tried.
    type: int
    default: 5
  validate_certs:
    description:
      - Verify the TLS certificate of the REST API when O(api_urls) use C(https).
    type: bool
    default: true
  ca_path:
    description:
      - PEM file with the CA certificate(s) that signed the REST API certificate.
      - For a cluster deployed by this collection, the deployment's C(.pki/ca.crt) on the controller
        (beside the first inventory source; the playbooks pass it), or C(/etc/pgha/tls/ca.crt) on a node.
      - Without it the system's CAs are used, which do not know the deployment's CA.
    type: path
  client_cert:
    description:
      - PEM client certificate, when the REST API requires client certificates
        (C(restapi.verify_client)).
    type: path
  client_key:
    description:
      - PEM private key of O(client_cert), if it is not in the same file.
    type: path
"""

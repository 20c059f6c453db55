# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Ansible side of the Patroni client: connection options, run_module, an `open_url` transport.

The client itself and the cluster logic live in patroni_core.py (standard
library only, shared with the tools and the node scripts); the modules import
those from there and only `run_module` and friends from here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from urllib.error import HTTPError

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

from ansible_collections.pgha.cloud.plugins.module_utils.patroni_core import (
    PatroniClient,
    PatroniError,
    TransportError,
    reason_of,
)


def connection_argument_spec():
    """Options every patroni_* module takes; documented by the pgha.cloud.patroni doc fragment."""
    return dict(
        api_urls=dict(type="list", elements="str", required=True),
        api_username=dict(type="str"),
        api_password=dict(type="str", no_log=True),
        api_timeout=dict(type="int", default=5),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path"),
        client_cert=dict(type="path"),
        client_key=dict(type="path", no_log=False),
    )


def run_module(options, run):
    """The main() of every patroni_* module: shared connection options plus `options`,
    check mode, and every PatroniError turned into a failure with its message.

    `run(module, client)` returns the result dict.
    """
    argument_spec = connection_argument_spec()
    argument_spec.update(options)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    try:
        module.exit_json(**run(module, client_from_module(module)))
    except PatroniError as e:
        module.fail_json(msg=e.message)


def client_from_module(module):
    """A PatroniClient built from the shared connection options of `module.params`."""
    p = module.params
    transport = open_url_transport(validate_certs=p["validate_certs"], ca_path=p["ca_path"],
                                   client_cert=p["client_cert"], client_key=p["client_key"])
    return PatroniClient(p["api_urls"], transport, username=p["api_username"], password=p["api_password"],
                         timeout=p["api_timeout"])


def open_url_transport(validate_certs=True, ca_path=None, client_cert=None, client_key=None):
    """A patroni_core transport over Ansible's `open_url` (no proxy), for modules and plugins."""

    def send(method, url, body=None, timeout=5, headers=None):
        try:
            resp = open_url(url, data=body, headers=headers, method=method, timeout=timeout,
                            validate_certs=validate_certs, ca_path=ca_path, client_cert=client_cert,
                            client_key=client_key, use_proxy=False, http_agent="pgha.cloud-patroni")
            return resp.getcode(), resp.read()
        except HTTPError as e:  # an answer all the same: the client reads its status
            return e.code, _error_body(e)
        except Exception as e:  # URLError, socket errors, TLS errors, http.client errors
            raise TransportError(reason_of(e)) from None

    return send


def _error_body(http_error):
    try:
        return http_error.read()
    except Exception:
        return b""

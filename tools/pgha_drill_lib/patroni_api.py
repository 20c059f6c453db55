# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every HTTP call the drill makes to Patroni's REST API, and nothing else.

The drill's own small client (standard library only): GET /cluster and a
member's /patroni, POST /switchover. Kept in this one module so that it can
be switched to the collection's shared Patroni client
(plugins/module_utils/patroni.py) in one place.
"""

import base64
import json
import ssl
import urllib.error
import urllib.request

# TLS for https Patroni URLs: the deployment's CA (--patroni-ca), else the system's.
PATRONI_TLS = {"context": None}


def use_patroni_ca(cafile):
    PATRONI_TLS["context"] = ssl.create_default_context(cafile=cafile) if cafile else None


def rest_get(url, timeout=1.0):
    with urllib.request.urlopen(url, timeout=timeout, context=PATRONI_TLS["context"]) as resp:
        return json.loads(resp.read())


def rest_json(url, timeout=1.0):
    """GET a Patroni endpoint; 503 answers (replica on /primary, ...) still carry JSON."""
    try:
        return rest_get(url, timeout)
    except urllib.error.HTTPError as exc:
        try:
            return json.loads(exc.read())
        except ValueError:
            return None
    except (OSError, ValueError):
        return None


def member_url(member, path):
    """A URL on one member of GET /cluster's answer: its api_url ends in /patroni."""
    return member["api_url"].rsplit("/", 1)[0] + path


def member_status(url, timeout=0.5):
    """GET a member's /patroni (see member_url): what it says it is; None when it does not answer."""
    return rest_json(url, timeout=timeout)


def cluster_view(api_urls):
    """GET /cluster from the first member that answers."""
    for url in api_urls:
        view = rest_json(url.rstrip("/") + "/cluster", timeout=2)
        if view and "members" in view:
            return view
    return None


def switchover(leader, auth):
    """POST /switchover to the leader's REST API; Patroni picks the candidate."""
    body = json.dumps({"leader": leader["name"]}).encode()
    url = member_url(leader, "/switchover")
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=60, context=PATRONI_TLS["context"]) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()

# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every call the drill makes to Patroni's REST API, and nothing else.

GET /cluster, a member's /patroni and POST /switchover, all through the
collection's shared client (plugins/module_utils/patroni_core.py, standard
library only) so the drill checks certificates and reports errors as the
modules and the other tools do.
"""

import sys
from pathlib import Path

# tools/pgha_drill_lib/ -> the repository's plugins/module_utils (the same file the roles ship).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "module_utils"))
import patroni_core  # noqa: E402  pylint: disable=wrong-import-position

# The transport of https Patroni URLs: the deployment's CA (--patroni-ca), else the system's.
PATRONI_TLS = {"transport": patroni_core.stdlib_transport()}

# The drill's option names in the client's messages.
_OPTION_NAMES = {"urls": "--api-url", "ca": "--patroni-ca", "credentials": "PGHA_PATRONI_AUTH"}


def use_patroni_ca(cafile):
    PATRONI_TLS["transport"] = patroni_core.stdlib_transport(ca_file=cafile or None)


def member_url(member, path):
    """A URL on one member of GET /cluster's answer: its api_url ends in /patroni."""
    return patroni_core.base_url(member["api_url"]) + path


def member_status(url, timeout=0.5):
    """GET a member's /patroni (see member_url): what it says it is; None when it does not answer.

    Any HTTP status counts: a member that answers 503 still says what it is.
    """
    try:
        _status, raw = PATRONI_TLS["transport"]("GET", url, None, timeout, {"Accept": "application/json"})
    except patroni_core.TransportError:
        return None
    answer = patroni_core.decode(raw)
    return answer if isinstance(answer, dict) else None


def cluster_view(api_urls):
    """GET /cluster from the first member that answers; None when none does."""
    try:
        client = patroni_core.PatroniClient(api_urls, PATRONI_TLS["transport"], timeout=2, retries=0,
                                            option_names=_OPTION_NAMES)
        view = client.cluster()
    except patroni_core.PatroniError:
        return None
    return view if "members" in view else None


def switchover(leader, auth):
    """POST /switchover to the leader's REST API (Patroni picks the candidate): (HTTP status, text).

    `auth` is "user:password" (PGHA_PATRONI_AUTH) or empty. Status 0: no answer.
    """
    username, _sep, password = (auth or "").partition(":")
    client = patroni_core.PatroniClient([member_url(leader, "")], PATRONI_TLS["transport"],
                                        username=username or None, password=password or None,
                                        timeout=60, retries=0, option_names=_OPTION_NAMES)
    try:
        answer = client.switchover(leader["name"])
    except patroni_core.PatroniError as e:
        return e.status or 0, str(e)
    return 200, answer if isinstance(answer, str) else str(answer)

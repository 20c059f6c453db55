# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""RTO/RPO presets: the one place where Patroni and HAProxy timings are defined.

A preset drives the Patroni DCS timings and the HAProxy health-check timings
together, so that the proxy notices a new leader about as fast as Patroni
elects one. Every preset satisfies Patroni's own rules unchanged: ttl >= 20
(Patroni clamps lower values) and loop_wait + 2 * retry_timeout <= ttl.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Patroni's own timing defaults and rules (timing_errors) live in patroni_core with its client.
from ansible_collections.pgha.cloud.plugins.module_utils.patroni_core import PATRONI_DEFAULTS

DEFAULT_RTO = "norm"
DEFAULT_RPO = 0

RTO_PLANS = {
    # Lease 20 s (Patroni's floor), HAProxy sees role changes within ~1 s. A
    # server that is down (a replica, in the primary backend) is checked every
    # 250 ms, so a promoted replica takes writes within a quarter second.
    "fast": {
        "ttl": 20, "loop_wait": 2, "retry_timeout": 5,
        "primary_start_timeout": 15, "primary_stop_timeout": 10,
        "haproxy": {"inter": "1s", "fastinter": "500ms", "downinter": "250ms", "rise": 1, "fall": 2},
    },
    # The default: tolerates a few seconds of network or DCS hiccup.
    "norm": {
        "ttl": 30, "loop_wait": 5, "retry_timeout": 10,
        "primary_start_timeout": 25, "primary_stop_timeout": 30,
        "haproxy": {"inter": "2s", "fastinter": "1s", "downinter": "1s", "rise": 2, "fall": 2},
    },
    # Noisy networks and busy hosts: fewer false failovers, slower real ones.
    "safe": {
        "ttl": 60, "loop_wait": 10, "retry_timeout": 20,
        "primary_start_timeout": 60, "primary_stop_timeout": 60,
        "haproxy": {"inter": "3s", "fastinter": "1s", "downinter": "2s", "rise": 3, "fall": 3},
    },
    # Cross-region or very unreliable links.
    "wide": {
        "ttl": 120, "loop_wait": 20, "retry_timeout": 30,
        "primary_start_timeout": 120, "primary_stop_timeout": 120,
        "haproxy": {"inter": "5s", "fastinter": "2s", "downinter": "3s", "rise": 3, "fall": 3},
    },
}

# Patroni's stock timings and the checks of the sample haproxy.cfg in Patroni's
# repository (inter 3s, fall 3, rise 2; fastinter and downinter default to
# inter). What a cluster gets when nothing is tuned: the benchmark's baseline.
# Patroni's primary_stop_timeout default 0 means "no limit".
RTO_PLANS["patroni"] = dict(
    PATRONI_DEFAULTS,
    primary_start_timeout=300, primary_stop_timeout=0,
    haproxy={"inter": "3s", "fastinter": "3s", "downinter": "3s", "rise": 2, "fall": 3},
)


def rto_plan(name=None, overrides=None):
    """Return the preset `name` (default DEFAULT_RTO) with optional timing overrides.

    Raises ValueError naming the valid presets for an unknown name.
    """
    name = DEFAULT_RTO if name in (None, "") else name
    if name not in RTO_PLANS:
        raise ValueError(f"unknown pg_rto preset {name!r}; choose one of: "
                         f"{', '.join(sorted(RTO_PLANS))}")
    plan = dict(RTO_PLANS[name])
    plan["haproxy"] = dict(plan["haproxy"])
    plan["name"] = name
    for key, value in (overrides or {}).items():
        if value is not None:
            plan[key] = int(value)
    plan["crash_outage_bound"] = crash_outage_bound(plan)
    return plan


def crash_outage_bound(plan):
    """Worst write outage, in seconds, we document for a primary node crash.

    The leader key outlives the crash by up to ttl; replicas notice it at their
    next loop (loop_wait) and one promotes; HAProxy needs its rise checks and
    clients must reconnect. The second loop_wait and the 5 s cover promotion,
    proxy checks and reconnection with margin.
    """
    return plan["ttl"] + 2 * plan["loop_wait"] + 5


def rpo_settings(rpo=None):
    """Map pg_rpo to Patroni's replication settings.

    0 means synchronous replication: no acknowledged commit is lost on failover.
    A positive value is asynchronous, and bounds how far (in bytes) a replica may
    lag and still be promoted.
    """
    try:
        rpo = DEFAULT_RPO if rpo in (None, "") else int(rpo)
    except (TypeError, ValueError):
        raise ValueError(f"pg_rpo={rpo!r} is not an integer; use 0 (synchronous) or a byte count "
                         "such as 1048576") from None
    if rpo < 0:
        raise ValueError(f"pg_rpo={rpo} is negative; use 0 (synchronous) or a byte count")
    if rpo == 0:
        # Only the synchronous standby may be promoted, so its lag bound is moot;
        # keep Patroni's own default for the case where sync mode is switched off.
        return {"synchronous_mode": True, "maximum_lag_on_failover": 1048576}
    return {"synchronous_mode": False, "maximum_lag_on_failover": rpo}

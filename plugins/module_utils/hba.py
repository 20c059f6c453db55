# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pigsty's pg_hba_rules and pg_default_hba_rules: checked strictly, then rendered as pg_hba lines.

A rule has Pigsty's shape: `user`, `db`, `addr` (an alias or an address),
`auth` (Pigsty's short names), `title`, `order` and `role`; or `rules`, a list
of raw pg_hba lines. Rules are sorted as Pigsty sorts them: those with an
`order` by it, then those without, in the order given.

They sit between the cluster's own rules (cluster.hba_rules): after the ones
that keep the superuser on the local socket and replication and rewind on
TLS between members, and before the ones that admit the client networks.
Rules for the superuser, the replication user or the rewind user could never
match there; they are left out and named (`covered`), never dropped silently.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.pgha.cloud.plugins.module_utils.cluster import hba_address

SCRAM = "scram-sha-256"
# Pigsty's auth names -> pg_hba methods. Passwords are stored as SCRAM here,
# so md5 (which then runs SCRAM) passes through as PostgreSQL reads it.
AUTH = {
    "pwd": SCRAM, "ssl": SCRAM, "sha": SCRAM, "ssl-sha": SCRAM, SCRAM: SCRAM,
    "md5": "md5", "ssl-md5": "md5",
    "cert": "cert", "deny": "reject", "reject": "reject",
    "os": "ident", "ident": "ident", "peer": "peer", "trust": "trust",
}
# Auth names that ask for TLS (hostssl), as in Pigsty.
SSL_AUTH = ("ssl", "ssl-sha", "ssl-md5", "cert")
# Pigsty's `role`: the rule applies on instances with that pg_role only.
ROLES = ("default", "common", "primary", "replica", "offline", "standby", "delayed")
# Pigsty's intranet: node_firewall_intranet's default.
INTRANET = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
ADDRESS_ALIASES = ("local", "localhost", "infra", "cluster", "intra", "intranet", "world", "all")
USER_ALIASES = ("${dbsu}", "${repl}", "${monitor}", "${admin}")
KEYS = ("user", "db", "addr", "auth", "title", "order", "role", "rules")
RULE_VARS = ("pg_default_hba_rules", "pg_hba_rules", "patroni_default_hba_rules", "patroni_hba_rules")

# Raw lines (`rules`): what pg_hba takes, without quoting, files or regular expressions.
LINE_TYPES = ("local", "host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc")
METHODS = ("trust", "reject", SCRAM, "md5", "password", "gss", "sspi", "ident", "peer", "ldap",
           "radius", "cert", "pam", "bsd")
_NAME = r"[A-Za-z_][A-Za-z0-9_$.-]{0,62}"
NAME_LIST_RE = re.compile(rf"\+?{_NAME}(,\+?{_NAME})*")
OPTION_RE = re.compile(r"[a-zA-Z_]+=[^\s\"'#,]+")
TITLE_MAX = 200


def _network(text):
    """An address or network as pg_hba takes it (a host becomes /32 or /128), or None."""
    try:
        return str(ipaddress.ip_network(str(text), strict=True))
    except ValueError:
        return None


def _names_problem(field, value, aliases):
    if not isinstance(value, str):
        return f"{field} {value!r} is not a string"
    if value in aliases:
        return None
    if not NAME_LIST_RE.fullmatch(value):
        return (f"{field} {value!r} is not a name list pg_hba takes here: names of letters, digits and _ "
                "(+name for a role's members), separated by commas, or all"
                + (f", or one of {', '.join(aliases)}" if aliases else "")
                + "; quoted names, @files and regular expressions are not supported")
    return None


def _address_problem(addr):
    if not isinstance(addr, str) or not addr:
        return "addr is not set; give an alias (" + ", ".join(ADDRESS_ALIASES) + ") or a network"
    if addr == "admin":
        return ("addr admin is Pigsty's admin node (admin_ip), which pgha.cloud does not have; "
                "give its network instead, e.g. addr: 10.10.10.10/32")
    if addr in ADDRESS_ALIASES or _network(addr):
        return None
    try:
        network = ipaddress.ip_network(addr, strict=False)
    except ValueError:
        return (f"addr {addr!r} is neither an alias (" + ", ".join(ADDRESS_ALIASES)
                + ") nor an address or network such as 10.0.0.0/8")
    return f"addr {addr!r} has host bits set; write the network address {network}"


def _line_problem(line):
    """Why a raw pg_hba line is refused, or None."""
    if not isinstance(line, str):
        return f"{line!r} is not a string"
    if not line.isprintable() or "#" in line or '"' in line or "'" in line:
        return (f"{line!r} has a line break, a control character, a quote or #; "
                "give one pg_hba line without comments or quoted names")
    words = line.split()
    if len(words) < 4 or words[0] not in LINE_TYPES:
        return (f"{line!r} is not a pg_hba line: TYPE DATABASE USER [ADDRESS] METHOD [OPTIONS], with TYPE "
                "one of " + ", ".join(LINE_TYPES))
    kind, database, user = words[:3]
    rest = words[3:]
    for field, value in (("database", database), ("user", user)):
        if value != "all" and not NAME_LIST_RE.fullmatch(value):
            return f"{line!r}: {field} {value!r} is not a name list (names, +role, all), separated by commas"
    if kind != "local":
        address = rest.pop(0)
        if address not in ("all", "samehost", "samenet") and not _network(address):
            return f"{line!r}: address {address!r} is not a network such as 10.0.0.0/8 (or all, samehost)"
    if not rest or rest[0] not in METHODS:
        return f"{line!r}: the method is not one of " + ", ".join(METHODS)
    for option in rest[1:]:
        if not OPTION_RE.fullmatch(option):
            return f"{line!r}: option {option!r} is not name=value"
    if kind == "local" and rest[0] == "cert":
        return f"{line!r}: cert needs a TLS connection (hostssl), not the local socket"
    if kind != "local" and rest[0] == "peer":
        return f"{line!r}: peer works on the local socket only"
    return None


def rule_errors(rule):
    """Problems of one rule, each naming the field and the fix; [] when it is good."""
    if not isinstance(rule, dict):
        return ["is not a mapping; write it as {user: all, db: all, addr: intra, auth: pwd, title: ...}"]
    errors = [f"has {key!r}, which a pg_hba rule does not take (its keys: {', '.join(KEYS)})"
              for key in rule if key not in KEYS]
    role = rule.get("role", "")
    if role not in ("", None) and role not in ROLES:
        errors.append(f"role {role!r} is not one of " + ", ".join(ROLES))
    order = rule.get("order")
    if order is not None and (isinstance(order, bool) or not isinstance(order, int)):
        errors.append(f"order {order!r} is not a whole number")
    title = rule.get("title")
    if title is not None and not (isinstance(title, str) and title.isprintable() and len(title) <= TITLE_MAX):
        errors.append(f"title is not one line of at most {TITLE_MAX} characters")
    if rule.get("rules"):
        if any(key in rule for key in ("user", "db", "addr", "auth")):
            errors.append("has both rules and user/db/addr/auth; give raw lines (rules) or one rule, "
                          "not both")
        lines = rule["rules"]
        if not isinstance(lines, (list, tuple)):
            return errors + ["rules is not a list of pg_hba lines"]
        errors.extend(f"rules line {problem}" for problem in filter(None, map(_line_problem, lines)))
        return errors
    addr = rule.get("addr")
    problem = _address_problem(addr)
    if problem:
        return errors + [problem]
    for field, aliases in (("user", USER_ALIASES + ("all",)),
                           ("db", ("all", "replication", "sameuser", "samerole"))):
        value = rule.get(field, "all")
        problem = _names_problem(field, "all" if value in ("", None) else value, aliases)
        if problem:
            errors.append(problem)
    auth = rule.get("auth") or "pwd"
    if auth not in AUTH:
        errors.append(f"auth {auth!r} is not one of " + ", ".join(AUTH) + "; for another method give a raw "
                      "line in rules")
    elif auth == "peer" and addr != "local":
        errors.append("auth peer works on the local socket only; use it with addr: local")
    elif auth == "cert" and addr in ("local", "localhost"):
        errors.append(f"auth cert needs a TLS connection, which addr {addr} (the local socket) is not")
    return errors


def sorted_rules(rules):
    """Pigsty's order: rules with `order` by it (stable), then the others as given."""
    rules = [r for r in rules or [] if isinstance(r, dict)]
    ordered = sorted((r for r in rules if r.get("order") is not None), key=lambda r: r["order"])
    return ordered + [r for r in rules if r.get("order") is None]


def _applies(rule, pg_role, offline_query=False):
    """Pigsty's rule: `offline` rules also apply on an instance with pg_offline_query."""
    role = rule.get("role") or "default"
    return role in ("default", "common") or role == pg_role or (role == "offline" and offline_query)


def _addresses(addr, context):
    if addr in ("intra", "intranet"):
        return list(INTRANET)
    if addr in ("world", "all"):
        return ["0.0.0.0/0", "::/0"]
    if addr in ("cluster", "infra"):
        return [hba_address(a) for a in context.get(addr) or []]
    return [_network(addr)]


def _user(rule, users):
    value = rule.get("user") or "all"
    return users.get(value, value)


def render(rules, users, reserved, pg_role, context, tls="require", offline_query=False):
    """(lines, covered): pg_hba lines of the rules that apply on this instance, and the rules left out.

    `users` maps Pigsty's ${dbsu}, ${repl}, ${monitor} and ${admin} to names;
    `reserved` are the names the cluster's own rules decide (superuser,
    replication, rewind): a rule's names among them are left out, and the
    rule is named in `covered`. `context` has `cluster` and `infra`, addresses. With
    `tls` require every network rule is hostssl, as the cluster's own are;
    reject rules stay host, so that they reject plaintext too. Rules for
    the `offline` role apply on offline instances and where `offline_query`.
    """
    lines, covered = [], []
    for rule in sorted_rules(rules):
        problems = rule_errors(rule)
        if problems:
            raise ValueError(f"pg_hba rule {rule.get('title') or rule!r}: {problems[0]}")
        if not _applies(rule, pg_role, offline_query):
            continue
        if rule.get("rules"):
            lines.extend(" ".join(line.split()) for line in rule["rules"])
            continue
        names = _user(rule, users).split(",")
        kept = [name for name in names if name not in reserved]
        if len(kept) < len(names):
            covered.append(rule.get("title")
                           or f"{rule.get('user')} {rule.get('db') or 'all'} {rule['addr']}")
        if not kept:
            continue
        user = ",".join(kept)
        db = rule.get("db") or "all"
        auth = rule.get("auth") or "pwd"
        method = AUTH[auth]
        if method == "reject":
            kind = "host"
        elif auth in SSL_AUTH or tls == "require":
            kind = "hostssl"
        else:
            kind = "host"
        addr = rule["addr"]
        if addr in ("local", "localhost"):
            lines.append(f"local {db} {user} {method}")
            if addr == "localhost":
                lines.extend(f"{kind} {db} {user} {net} {method}" for net in ("127.0.0.1/32", "::1/128"))
            continue
        lines.extend(f"{kind} {db} {user} {net} {method}" for net in _addresses(addr, context))
    return lines, covered

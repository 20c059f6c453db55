# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pgbouncer on the members, with Pigsty's names: what it pools, who logs in, where HAProxy sends whom.

pgbouncer (Debian's package) runs on every member of a cluster with
`pgbouncer_enabled: true`, and reaches its own PostgreSQL over the local
socket. Clients log in with their own passwords: pgbouncer asks PostgreSQL
for the user's SCRAM secret (`auth_query`) as a dedicated role without a
password (peer authentication, mapped from the postgres account), and logs
in to PostgreSQL with the keys of the client's own SCRAM exchange. No
password or secret is ever written to a file.

Who may log in follows Pigsty: the users of pg_users with `pgbouncer: true`
and the admin login; with `pgbouncer_auth_query: true`, every user the
secret function returns (never a superuser, a replication role, the rewind
user or the pooler's own role). What is pooled follows Pigsty too: every
database of pg_databases unless it says `pgbouncer: false`, with Pigsty's
`pool_*` options of a database. HAProxy's primary and replica services lead
to pgbouncer when `pg_default_service_dest` is pgbouncer (the default while
pgbouncer is on); the default service (5436) always leads to PostgreSQL.

The inventory check, the haproxy, firewall, patroni and pgbouncer roles all
read these functions, so they cannot disagree.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.pgha.cloud.plugins.module_utils import cluster, haproxy

# Mirrors of the pgbouncer role's defaults (tests/unit/test_pgbouncer.py keeps
# them equal): the inventory check and the haproxy role see inventory values only.
ENABLED_DEFAULT = False  # Pigsty: true; here opt-in, see docs/pooling.md
DEFAULT_PORT = 6432
DEFAULT_AUTH_USER = "pgbouncer"
DESTINATIONS = ("pgbouncer", "postgres")
POOL_MODES = ("session", "transaction", "statement")
# Client TLS modes pgbouncer takes that this collection serves (no client certificates are issued).
SSL_MODES = ("disable", "allow", "prefer", "require")
PLAINTEXT_SSL_MODES = ("disable", "allow", "prefer")
# Where the function that hands pgbouncer a user's secret lives, in every pooled database.
AUTH_SCHEMA = "pgbouncer"
AUTH_FUNCTION = "user_secret"
SOCKET_DIR = "/var/run/postgresql"

# Pigsty's pool options of a database: item key -> pgbouncer's name.
DATABASE_POOL_KEYS = {"pool_mode": "pool_mode", "pool_size": "pool_size", "pool_size_min": "min_pool_size",
                      "pool_reserve": "reserve_pool", "pool_connlimit": "max_db_connections"}
# Pigsty's pool options of a user go into pgbouncer's [users] section, and
# pgbouncer 1.18 (Debian 12) then skips auth_query for that user: its logins
# fail. Refused, with this reason (pg_objects.USER_KEY_HINTS).
USER_POOL_HINT = ("pgbouncer 1.18 (Debian 12) skips auth_query for a user with settings of its own, so its "
                  "logins would fail; set pool_mode or pool_connlimit on the database (pg_databases) instead")
USER_POOL_KEYS = ("pool_mode", "pool_connlimit")
# pgbouncer's ignore_startup_parameters: parameter names only.
_PARAMETER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def _var(hostvars, host, name):
    return haproxy.host_var(hostvars, host, name)


def enabled(hostvars, host):
    """Whether pgbouncer runs on the cluster of `host` (None when the value is not a boolean)."""
    return haproxy.parse_bool(_var(hostvars, host, "pgbouncer_enabled"), ENABLED_DEFAULT)


def port(hostvars, host):
    value = _var(hostvars, host, "pgbouncer_port")
    return DEFAULT_PORT if value is None else value


def service_dest(hostvars, host):
    """Where services with `dest: default` (primary, replica) lead: Pigsty's pg_default_service_dest.

    Unset: pgbouncer while pgbouncer is on (Pigsty's default), else PostgreSQL.
    """
    value = _var(hostvars, host, "pg_default_service_dest")
    if value in (None, ""):
        return "pgbouncer" if enabled(hostvars, host) else "postgres"
    return str(value)


def node_ports(hostvars, host):
    """{label: port} of the listeners on a PostgreSQL node: PostgreSQL, Patroni's REST API, pgbouncer."""
    ports = haproxy.host_ports(hostvars, host, haproxy.POSTGRES_NODE_PORTS)
    if enabled(hostvars, host):
        ports["pgbouncer (pgbouncer_port)"] = port(hostvars, host)
    return ports


def server_port(hostvars, host, pg_port, dest="default"):
    """The port on the members that a service of the cluster of `host` with Pigsty's `dest` leads to.

    `default` follows pg_default_service_dest; `postgres` is `pg_port`,
    `pgbouncer` pgbouncer's port; a number is taken as it is.
    """
    dest = str(dest)
    if dest == "default":
        dest = service_dest(hostvars, host)
    if dest == "pgbouncer":
        return port(hostvars, host)
    if dest == "postgres":
        return pg_port
    return haproxy.as_port(dest)


def pooled_database(item):
    """Pigsty's `pgbouncer` flag of a pg_databases item: on unless it says false."""
    return haproxy.parse_bool(item.get("pgbouncer"), True) is not False


def pooled_user(item):
    """Pigsty's `pgbouncer` flag of a pg_users item: off unless it says true."""
    return haproxy.parse_bool(item.get("pgbouncer"), False) is True


def _whole(value):
    if isinstance(value, bool):
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def pool_errors(item, keys=()):
    """Problems with the `pgbouncer` flag and the pool_* options (`keys`) of an inventory item."""
    errors = []
    if item.get("pgbouncer") is not None and haproxy.parse_bool(item["pgbouncer"], None) is None:
        errors.append(f"pgbouncer {item['pgbouncer']!r} is not true or false")
    for key in keys:
        if item.get(key) is None:
            continue
        value = item[key]
        if key == "pool_mode":
            if str(value) not in POOL_MODES:
                errors.append(f"pool_mode {value!r} is not one of {', '.join(POOL_MODES)}")
        elif _whole(value) is None or _whole(value) < 0:
            errors.append(f"{key} {value!r} is not a whole number from 0 up")
    return errors


def _options(item, keys):
    return " ".join(f"{name}={item[key] if key == 'pool_mode' else _whole(item[key])}"
                    for key, name in keys.items() if item.get(key) is not None)


def database_entries(databases, pg_port):
    """[{name, connect}] for pgbouncer's [databases]: the pooled pg_databases, over the local socket."""
    out = []
    for item in databases or ():
        if not isinstance(item, dict) or not pooled_database(item):
            continue
        connect = f"host={SOCKET_DIR} port={int(pg_port)} dbname={item['name']}"
        extra = _options(item, DATABASE_POOL_KEYS)
        out.append({"name": item["name"], "connect": f"{connect} {extra}".strip()})
    return out


def allowed_users(users, admin_user, auth_query):
    """Who may log in through pgbouncer: 'all' with auth_query, else the admin and the flagged users."""
    if auth_query:
        return ["all"]
    names = [admin_user]
    for item in users or ():
        if isinstance(item, dict) and pooled_user(item) and item["name"] not in names:
            names.append(item["name"])
    return names


def hba_lines(users, sources, tls):
    """pgbouncer's auth_hba_file: SCRAM for the allowed users, on the socket and from `sources`.

    `sources` are the addresses and networks PostgreSQL's own client rules
    admit (cluster.hba_address form). With `tls` the network lines are
    hostssl; whatever no line matches is rejected by pgbouncer.
    """
    who = ",".join(users)
    kind = "hostssl" if tls else "host"
    lines = [f"local all {who} scram-sha-256"]
    for source in sources:
        line = f"{kind} all {who} {source} scram-sha-256"
        if line not in lines:
            lines.append(line)
    return lines


def _quote_literal(text):
    return "'" + str(text).replace("'", "''") + "'"


def auth_function_sql(auth_user, excluded):
    """The function pgbouncer's auth_query calls: a login's SCRAM secret, never a privileged role's.

    SECURITY DEFINER (owned by the superuser, who reads pg_authid), callable
    by the pooler's role only. Superusers, replication roles, roles that
    cannot log in and the names in `excluded` (the rewind user, the pooler
    itself) get no row, so pgbouncer answers "no such user".

    Default privileges (Pigsty's pg_default_privileges grant EXECUTE on the
    superuser's new functions and USAGE on its new schemas to the dbrole_*
    roles) would hand the function to other roles too: every grant but the
    owner's and the pooler's is revoked again, whoever received it.
    """
    names = ", ".join(_quote_literal(name) for name in sorted(set(excluded)))
    schema, function = AUTH_SCHEMA, AUTH_FUNCTION
    return "; ".join([
        f"CREATE SCHEMA IF NOT EXISTS {schema}",
        f"REVOKE ALL ON SCHEMA {schema} FROM PUBLIC",
        f"GRANT USAGE ON SCHEMA {schema} TO {auth_user}",
        f"CREATE OR REPLACE FUNCTION {schema}.{function}(p_user text) "
        "RETURNS TABLE (usename text, passwd text) LANGUAGE sql STABLE SECURITY DEFINER "
        "SET search_path = pg_catalog AS $fn$ "
        "SELECT rolname::text, rolpassword::text FROM pg_catalog.pg_authid "
        "WHERE rolname = p_user AND rolcanlogin AND NOT rolsuper AND NOT rolreplication "
        f"AND rolname <> ALL (ARRAY[{names}]::text[]) $fn$",
        f"REVOKE ALL ON FUNCTION {schema}.{function}(text) FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION {schema}.{function}(text) TO {auth_user}",
        "DO $do$ DECLARE who text; BEGIN "
        "FOR who IN SELECT DISTINCT a.grantee::regrole::text FROM pg_catalog.pg_proc p, "
        "pg_catalog.aclexplode(p.proacl) a "
        f"WHERE p.oid = '{schema}.{function}(text)'::regprocedure AND a.grantee <> 0 "
        f"AND a.grantee NOT IN (p.proowner, '{auth_user}'::regrole) "
        f"LOOP EXECUTE format('REVOKE ALL ON FUNCTION {schema}.{function}(text) FROM %s', who); END LOOP; "
        "FOR who IN SELECT DISTINCT a.grantee::regrole::text FROM pg_catalog.pg_namespace n, "
        "pg_catalog.aclexplode(n.nspacl) a "
        f"WHERE n.nspname = '{schema}' AND a.grantee <> 0 "
        f"AND a.grantee NOT IN (n.nspowner, '{auth_user}'::regrole) "
        f"LOOP EXECUTE format('REVOKE ALL ON SCHEMA {schema} FROM %s', who); END LOOP; "
        "END $do$",
    ])


def auth_query_text():
    return f"SELECT usename, passwd FROM {AUTH_SCHEMA}.{AUTH_FUNCTION}($1)"


def ignore_param_errors(value):
    """pgbouncer_ignore_param: a list of parameter names (Pigsty's shape)."""
    if not isinstance(value, (list, tuple)):
        return [f"pgbouncer_ignore_param {value!r} is not a list of parameter names"]
    bad = [str(name) for name in value if not (isinstance(name, str) and _PARAMETER_RE.fullmatch(name))]
    if bad:
        return [f"pgbouncer_ignore_param has {', '.join(repr(b) for b in bad)}, which is not a parameter "
                "name (letters, digits, _)"]
    return []


def config(users, databases, pg_port, admin_user, auth_query, sources, tls):
    """Everything the pgbouncer role writes: {databases, auth_query, hba} (see the functions above).

    `sources` are addresses or networks (an IP becomes a /32 or /128 as in
    pg_hba); a value with whitespace, `#` or a quote is refused.
    """
    clean = []
    for source in sources or ():
        text = str(source)
        if not text or any(c.isspace() or c in "#\"'," for c in text):
            raise ValueError(f"pgbouncer: {text!r} is not an address or a network for pgb_hba.conf")
        clean.append(cluster.hba_address(text))
    return {"databases": database_entries(databases, pg_port), "auth_query": auth_query_text(),
            "hba": hba_lines(allowed_users(users, admin_user, haproxy.parse_bool(auth_query, False)),
                             clean, tls)}

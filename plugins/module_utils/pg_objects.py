# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Users and databases of the inventory (pg_users, pg_databases), in Pigsty's shape where supported.

A user is `{name, password, attributes, roles}` (attributes: a string such
as 'LOGIN,CREATEDB'), or, as in Pigsty, `{name, password, login, superuser,
createdb, createrole, inherit, replication, bypassrls, connlimit, comment,
expire_at, roles}` with Pigsty's defaults (login and inherit on, the others
off). `user_errors` judges one item (the preflight, before any host changes);
`user_options` turns the list into what community.postgresql.postgresql_user
takes (the patroni role).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

# The same reading of Ansible's booleans as everywhere in the inventory check.
from ansible_collections.pgha.cloud.plugins.module_utils import haproxy, pgbouncer

# Pigsty's role flags and their defaults, in the order they are written.
FLAGS = (("login", True), ("superuser", False), ("createdb", False), ("createrole", False),
         ("inherit", True), ("replication", False), ("bypassrls", False))
# pgbouncer's flag and Pigsty's pool_* options of a database are read by the pgbouncer role.
USER_KEYS = ("name", "password", "attributes", "roles") + tuple(flag for flag, _default in FLAGS) + (
    "connlimit", "comment", "expire_at", "pgbouncer")
DATABASE_KEYS = ("name", "owner", "encoding", "template", "locale", "lc_collate", "lc_ctype", "tablespace",
                 "connlimit", "comment", "pgbouncer", "schemas", "extensions") + tuple(
                     pgbouncer.DATABASE_POOL_KEYS)
# Pigsty's schemas and extensions of a database: a name, or a mapping.
SCHEMA_KEYS = ("name", "owner", "state")
EXTENSION_KEYS = ("name", "schema", "version", "state")
# Pigsty drops one (with CASCADE) only on state: absent.
STATES = ("present", "absent")
# An extension's name as CREATE EXTENSION takes it (uuid-ossp has a '-'), and its version.
EXTENSION_NAME_RE = re.compile(r"[a-z0-9_][a-z0-9_-]{0,62}")
_VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
# A PostgreSQL name as the roles write it unquoted (users, databases, owners, templates, tablespaces).
NAME_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_ENCODING_RE = re.compile(r"[A-Za-z0-9_-]{1,40}")
_LOCALE_RE = re.compile(r"[A-Za-z0-9_.@-]{1,100}")
# Pigsty options that are refused with a reason of their own.
USER_KEY_HINTS = {
    "expire_in": ("use expire_at with a date (a count of days from each run would move the expiry on "
                  "every run)"),
    **{key: pgbouncer.USER_POOL_HINT for key in pgbouncer.USER_POOL_KEYS},
}
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ATTRIBUTE_RE = re.compile(r"(?:NO)?(?:LOGIN|SUPERUSER|CREATEDB|CREATEROLE|INHERIT|REPLICATION|BYPASSRLS)")
MAX_COMMENT = 1024


def _flag(value):
    """True/False from YAML or Ansible's strings, None when it is neither (or unset)."""
    return haproxy.parse_bool(value, None)


def _connlimit(value):
    if isinstance(value, bool):
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return number if number >= -1 else None


def _attributes(item):
    """The attribute list the item asks for: its own string, or Pigsty's flags spelt out."""
    if item.get("attributes") not in (None, ""):
        return [part.strip().upper() for part in str(item["attributes"]).split(",") if part.strip()]
    if not any(flag in item for flag, _default in FLAGS):
        return ["LOGIN"]
    words = []
    for flag, default in FLAGS:
        value = default if item.get(flag) is None else _flag(item[flag])
        words.append(("" if value else "NO") + flag.upper())
    return words


def _limit_and_comment_errors(item):
    """connlimit and comment, as users and databases both take them."""
    errors = []
    if item.get("connlimit") is not None and _connlimit(item["connlimit"]) is None:
        errors.append(f"connlimit {item['connlimit']!r} is not a whole number from -1 (no limit) up")
    comment = item.get("comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > MAX_COMMENT
                                or not comment.isprintable()):
        errors.append(f"comment must be one line of printable text, at most {MAX_COMMENT} characters")
    return errors


def user_errors(item):
    """Problems with one pg_users item (a mapping), as message tails; its password is never shown."""
    errors = []
    unknown = [key for key in item if key not in USER_KEYS]
    for key in unknown:
        hint = USER_KEY_HINTS.get(key)
        errors.append(f"has {key}, which this collection does not apply"
                      + (f": {hint}" if hint else
                         " (Pigsty's parameters, search_path and other options are not supported yet,"
                         " see docs/from-pigsty.md); remove it"))
    flags = [flag for flag, _default in FLAGS if flag in item]
    if flags and item.get("attributes") not in (None, ""):
        errors.append(f"has both attributes and Pigsty's {', '.join(flags)}; give one or the other")
    for flag in flags:
        if item[flag] is not None and _flag(item[flag]) is None:
            errors.append(f"{flag} {item[flag]!r} is not true or false")
    if item.get("attributes") not in (None, ""):
        bad = [word for word in _attributes(item) if not _ATTRIBUTE_RE.fullmatch(word)]
        if bad or not isinstance(item["attributes"], str):
            errors.append("attributes must be a comma-separated list of [NO]LOGIN, [NO]SUPERUSER, "
                          "[NO]CREATEDB, [NO]CREATEROLE, [NO]INHERIT, [NO]REPLICATION, [NO]BYPASSRLS")
    errors.extend(_limit_and_comment_errors(item))
    errors.extend(pgbouncer.pool_errors(item))
    expire_at = item.get("expire_at")
    if expire_at is not None and not _valid_date(expire_at):
        errors.append(f"expire_at {expire_at!r} is not a date YYYY-MM-DD or 'infinity'")
    if "LOGIN" in _attributes(item) and item.get("password") in (None, ""):
        errors.append("has no password; give each login user a password (from a vault), or make it a role "
                      "without login (login: false)")
    return errors


def _valid_date(value):
    if isinstance(value, datetime.date):
        return True
    if not isinstance(value, str):
        return False
    if value == "infinity":
        return True
    if not _DATE_RE.fullmatch(value):
        return False
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def database_errors(item):
    """Problems with one pg_databases item (a mapping), as message tails."""
    errors = []
    for key in item:
        if key not in DATABASE_KEYS:
            errors.append(f"has {key}, which this collection does not apply (Pigsty's baseline, "
                          "parameters, revokeconn, pool_auth_user and other options are not supported yet, "
                          "see docs/from-pigsty.md); remove it")
    for key in ("template", "tablespace"):
        value = item.get(key)
        if value is not None and not (isinstance(value, str) and NAME_RE.fullmatch(value)):
            errors.append(f"{key} {value!r} is not a plain PostgreSQL name")
    if item.get("encoding") is not None and not (isinstance(item["encoding"], str)
                                                 and _ENCODING_RE.fullmatch(item["encoding"])):
        errors.append(f"encoding {item['encoding']!r} is not an encoding name such as UTF8")
    for key in ("locale", "lc_collate", "lc_ctype"):
        value = item.get(key)
        if value is not None and not (isinstance(value, str) and _LOCALE_RE.fullmatch(value)):
            errors.append(f"{key} {value!r} is not a locale name such as C.UTF-8 or en_US.UTF-8")
    errors.extend(_limit_and_comment_errors(item))
    errors.extend(pgbouncer.pool_errors(item, pgbouncer.DATABASE_POOL_KEYS))
    errors.extend(_member_errors(item, "schemas", SCHEMA_KEYS, {"name": NAME_RE, "owner": NAME_RE}))
    errors.extend(_member_errors(item, "extensions", EXTENSION_KEYS,
                                 {"name": EXTENSION_NAME_RE, "schema": NAME_RE, "version": _VERSION_RE}))
    return errors


def _member_errors(item, key, keys, patterns):
    """Pigsty's schemas or extensions of one database: names, or mappings with `keys`."""
    value = item.get(key)
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        return [f"{key} is not a list; write it as in Pigsty, {key}: [name, {{name: other, ...}}]"]
    errors = []
    for number, member in enumerate(value, start=1):
        where = f"{key} item {number}"
        member = {"name": member} if isinstance(member, str) else member
        if not isinstance(member, dict) or "name" not in member:
            errors.append(f"{where} is neither a name nor a mapping with a name")
            continue
        errors.extend(f"{where} has {extra}; it takes {', '.join(keys)}"
                      for extra in member if extra not in keys)
        for field, pattern in patterns.items():
            if member.get(field) is not None and not (isinstance(member[field], str)
                                                      and pattern.fullmatch(member[field])):
                errors.append(f"{where} {field} {member[field]!r} is not a plain PostgreSQL name"
                              if pattern is NAME_RE else f"{where} {field} {member[field]!r} is not valid")
        if member.get("state", "present") not in STATES:
            errors.append(f"{where} state {member['state']!r} is not present or absent")
    return errors


def _members(databases, key, fields):
    """[{database, name, state, <fields given>}] for the schemas or extensions of every database."""
    result = []
    for database in databases or []:
        for member in database.get(key) or []:
            member = {"name": member} if isinstance(member, str) else member
            entry = {"database": database["name"], "name": member["name"],
                     "state": member.get("state") or "present"}
            entry.update({field: str(member[field]) for field in fields if member.get(field) is not None})
            result.append(entry)
    return result


def database_schemas(databases):
    """pg_databases -> [{database, name, state, owner?}]: community.postgresql.postgresql_schema's items."""
    return _members(databases, "schemas", ("owner",))


def database_extensions(databases):
    """pg_databases -> [{database, name, state, schema?, version?}]: postgresql_ext's items."""
    return _members(databases, "extensions", ("schema", "version"))


def database_options(databases):
    """pg_databases -> [{name, owner?, encoding?, template?, lc_collate?, lc_ctype?, tablespace?, ...}].

    What community.postgresql.postgresql_db takes, item by item; Pigsty's
    locale sets lc_collate and lc_ctype unless they are given.
    """
    result = []
    for item in databases or []:
        options = {"name": item["name"]}
        for key in ("owner", "encoding", "template", "tablespace", "comment"):
            if item.get(key) is not None:
                options[key] = item[key]
        for key in ("lc_collate", "lc_ctype"):
            value = item.get(key, item.get("locale"))
            if value is not None:
                options[key] = value
        if item.get("connlimit") is not None:
            options["conn_limit"] = str(_connlimit(item["connlimit"]))
        result.append(options)
    return result


def user_options(users):
    """pg_users -> [{name, password?, attributes, roles?, conn_limit?, comment?, expires?}].

    What community.postgresql.postgresql_user takes, item by item (the patroni role's loop).
    """
    result = []
    for item in users or []:
        options = {"name": item["name"], "attributes": ",".join(_attributes(item))}
        if item.get("password") not in (None, ""):
            options["password"] = item["password"]
        if item.get("roles"):
            options["roles"] = list(item["roles"])
        if item.get("connlimit") is not None:
            options["conn_limit"] = _connlimit(item["connlimit"])
        if item.get("comment") is not None:
            options["comment"] = item["comment"]
        if item.get("expire_at") is not None:
            options["expires"] = str(item["expire_at"])
        result.append(options)
    return result


# ---------------------------------------------------------------- Pigsty's default roles and privileges

# pg_default_roles: group roles without login that pg_users join through
# `roles`. Pigsty's list also holds its system users (postgres, replicator,
# dbuser_dba, dbuser_monitor); here the cluster makes its own, so the default
# is the four dbrole_* roles only.
DEFAULT_ROLES = (
    {"name": "dbrole_readonly", "login": False, "comment": "reads every table"},
    {"name": "dbrole_offline", "login": False, "comment": "reads every table, for slow queries and ETL"},
    {"name": "dbrole_readwrite", "login": False, "roles": ["dbrole_readonly"],
     "comment": "reads and writes every table"},
    {"name": "dbrole_admin", "login": False, "roles": ["pg_monitor", "dbrole_readwrite"],
     "comment": "creates objects that the other dbrole_* roles can use"},
)

# pg_default_privileges: what objects created later by the superuser, the
# admin login and dbrole_admin grant to whom (ALTER DEFAULT PRIVILEGES, in
# every database), with Pigsty's meaning and default list.
DEFAULT_PRIVILEGES = (
    "GRANT USAGE ON SCHEMAS TO dbrole_readonly",
    "GRANT SELECT ON TABLES TO dbrole_readonly",
    "GRANT SELECT ON SEQUENCES TO dbrole_readonly",
    "GRANT EXECUTE ON FUNCTIONS TO dbrole_readonly",
    "GRANT USAGE ON SCHEMAS TO dbrole_offline",
    "GRANT SELECT ON TABLES TO dbrole_offline",
    "GRANT SELECT ON SEQUENCES TO dbrole_offline",
    "GRANT EXECUTE ON FUNCTIONS TO dbrole_offline",
    "GRANT INSERT ON TABLES TO dbrole_readwrite",
    "GRANT UPDATE ON TABLES TO dbrole_readwrite",
    "GRANT DELETE ON TABLES TO dbrole_readwrite",
    "GRANT USAGE ON SEQUENCES TO dbrole_readwrite",
    "GRANT UPDATE ON SEQUENCES TO dbrole_readwrite",
    "GRANT TRUNCATE ON TABLES TO dbrole_admin",
    "GRANT REFERENCES ON TABLES TO dbrole_admin",
    "GRANT TRIGGER ON TABLES TO dbrole_admin",
    "GRANT CREATE ON SCHEMAS TO dbrole_admin",
)
# Object kinds as ALTER DEFAULT PRIVILEGES names them, their pg_default_acl
# code, and the privileges each takes.
PRIVILEGE_KINDS = {
    "TABLES": ("r", ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")),
    "SEQUENCES": ("S", ("USAGE", "SELECT", "UPDATE")),
    "FUNCTIONS": ("f", ("EXECUTE",)),
    "ROUTINES": ("f", ("EXECUTE",)),
    "TYPES": ("T", ("USAGE",)),
    "SCHEMAS": ("n", ("USAGE", "CREATE")),
}
_KIND_NAMES = {"r": "TABLES", "S": "SEQUENCES", "f": "FUNCTIONS", "T": "TYPES", "n": "SCHEMAS"}
# Keywords in either case; the grantee as PostgreSQL folds an unquoted name (lower case).
_PRIVILEGE_RE = re.compile(r"(?i:GRANT)\s+(?P<privileges>[A-Za-z]+(?:\s*,\s*[A-Za-z]+)*)"
                           r"\s+(?i:ON)\s+(?P<kind>[A-Za-z]+)\s+(?i:TO)\s+(?P<grantee>[a-z_][a-z0-9_]{0,62})")


def default_objects(kind):
    """Pigsty's defaults here: 'roles' (DEFAULT_ROLES) or 'privileges' (DEFAULT_PRIVILEGES), as new lists."""
    if kind == "roles":
        return [dict(item, roles=list(item.get("roles", []))) if "roles" in item else dict(item)
                for item in DEFAULT_ROLES]
    if kind == "privileges":
        return list(DEFAULT_PRIVILEGES)
    raise ValueError(f"{kind!r} is neither roles nor privileges")


def privilege_grants(text):
    """One pg_default_privileges item -> [(kind code, grantee, privilege)]; ValueError says what is wrong."""
    match = _PRIVILEGE_RE.fullmatch(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"{text!r} is not GRANT <privileges> ON <TABLES|SEQUENCES|FUNCTIONS|TYPES|SCHEMAS> "
                         "TO <role>, as in Pigsty (only grants, to one role, without quotes)")
    kind = match["kind"].upper()
    if kind not in PRIVILEGE_KINDS:
        raise ValueError(f"{text!r}: {kind} is not one of " + ", ".join(PRIVILEGE_KINDS))
    code, allowed = PRIVILEGE_KINDS[kind]
    privileges = [word.strip().upper() for word in match["privileges"].split(",")]
    if privileges == ["ALL"]:
        privileges = list(allowed)
    wrong = [word for word in privileges if word not in allowed]
    if wrong:
        raise ValueError(f"{text!r}: {', '.join(wrong)} is not a privilege on {kind}; it takes "
                         + ", ".join(allowed))
    return [(code, match["grantee"], privilege) for privilege in privileges]


def privilege_errors(privileges, roles):
    """Problems with pg_default_privileges; `roles` are the names the cluster creates or has built in."""
    if not isinstance(privileges, (list, tuple)):
        return ["is not a list; write it as [GRANT SELECT ON TABLES TO dbrole_readonly, ...]"]
    errors = []
    for number, text in enumerate(privileges, start=1):
        try:
            grants = privilege_grants(text)
        except ValueError as exc:
            errors.append(f"item {number} {exc}")
            continue
        grantee = grants[0][1]
        if grantee not in roles and not grantee.startswith("pg_"):
            errors.append(f"item {number} grants to {grantee}, which neither pg_default_roles nor pg_users "
                          "create; add the role or fix the name")
    return errors


def default_privilege_statements(results, privileges, owners):
    """[{db, statements}]: the ALTER DEFAULT PRIVILEGES each database still lacks, for one query per database.

    `results` are the registered results of the patroni role's query of
    pg_default_acl (rows: owner, kind, grantee, privilege), one per
    database (item: the database, query_result: its rows). Only what is
    missing is granted, so that a second run changes nothing; a grant made by
    hand beyond the list is left alone.
    """
    wanted = {}
    for text in privileges or []:
        for code, grantee, privilege in privilege_grants(text):
            for owner in owners:
                wanted.setdefault((owner, code, grantee), set()).add(privilege)
    out = []
    for result in results or []:
        have = {(row["owner"], row["kind"], row["grantee"], row["privilege"])
                for row in result.get("query_result") or []}
        statements = []
        for (owner, code, grantee), wanted_privileges in sorted(wanted.items()):
            missing = sorted(p for p in wanted_privileges if (owner, code, grantee, p) not in have)
            if missing:
                statements.append(f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} GRANT {', '.join(missing)} "
                                  f"ON {_KIND_NAMES[code]} TO {grantee}")
        if statements:
            out.append({"db": result["item"], "statements": statements})
    return out

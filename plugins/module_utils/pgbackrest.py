# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pgBackRest settings, configuration, info output and restore targets.

Standard library only, with no import from Ansible or from the collection, so
that the modules, the filters and the tools can all use this one file.

The inventory names are Pigsty's: `pgbackrest_method` picks one entry of
`pgbackrest_repo`, a dict of repositories keyed by name (Pigsty ships `local`,
a posix directory, and `minio`, an S3 bucket). Each entry holds pgBackRest
repository options with `_` for `-` and without the `repo1-` prefix
(`s3_bucket` is `repo1-s3-bucket`). A value may contain `${pg_cluster}`,
replaced by the cluster name, as Pigsty does.

- `repo_errors` checks the method and the chosen entry strictly and returns
  one message per problem (the variable, what is wrong, how to fix it; never
  a secret's value). Anything that reaches pgbackrest.conf is checked first.
- `conf_sections` turns checked settings into the file's sections, as data;
  `render_conf` writes them as INI text. The returned `secrets` name the
  options whose values must stay out of logs; the file that holds them is
  meant to be written 0640 root:postgres with `no_log` on the task.
- `schedule_errors` checks `pgbackrest_schedule`, the scheduled backups
  (a list of {type: full|diff|incr, on_calendar: ...}).
- `archive_command` / `restore_command` are the commands Patroni gives
  PostgreSQL.
- `parse_info` summarises `pgbackrest info --output=json`;
  `restore_target_errors` checks a point-in-time target against that summary.

Written against pgBackRest 2.45 (Debian 12); every option used here has the
same meaning in later releases (Debian 13 ships a newer 2.5x).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
from datetime import datetime, timezone

from ansible_collections.pgha.cloud.plugins.module_utils.cluster import as_int

# Repository types the collection configures. pgBackRest also knows these,
# which the collection does not configure (yet): say so instead of "unknown".
SUPPORTED_TYPES = ("posix", "s3")
UNSUPPORTED_TYPES = {
    "azure": "Azure Blob Storage repositories are not supported by pgha.cloud yet",
    "gcs": "Google Cloud Storage repositories are not supported by pgha.cloud yet",
    "sftp": "SFTP repositories are not supported by pgha.cloud (and need pgBackRest 2.46 or later)",
    "cifs": "CIFS repositories are not supported by pgha.cloud; mount the share and use type posix",
}
CIPHER_TYPES = ("none", "aes-256-cbc")
MIN_CIPHER_PASS = 16
RETENTION_FULL_TYPES = ("count", "time")
RETENTION_ARCHIVE_TYPES = ("full", "diff", "incr")
S3_URI_STYLES = ("host", "path")
S3_KEY_TYPES = ("shared", "auto")
# pgBackRest's upper bound for the retention counts and days.
MAX_RETENTION = 9999999
# repo-block is marked "for beta testing only" in 2.45; 2.46 made it stable.
BLOCK_STABLE_VERSION = (2, 46)
# The oldest pgBackRest the collection supports (Debian 12).
OLDEST_VERSION = "2.45"
# `version` for a check made before the hosts are reached (the inventory
# check): the release is not known, so `block` is not judged against it; the
# role checks it again with the release it reads on the host.
ANY_VERSION = "any"
# Options whose value must never be logged.
SECRET_KEYS = ("s3_key_secret", "cipher_pass")
CLUSTER_TOKEN = "${pg_cluster}"
DEFAULT_WAL_SEGMENT_SIZE = 16 * 1024 * 1024

# What reaches pgbackrest.conf: no whitespace, comment, quote or control character.
_SAFE_RE = re.compile(r"[^\s#'\"\x00-\x1f\x7f]+")
_SIZE_RE = re.compile(r"[1-9][0-9]*(?:[KMGTP]i?B|B)?", re.IGNORECASE)
_HOST_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]")
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_REGION_RE = re.compile(r"[a-z0-9][a-z0-9-]*")
_STANZA_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# A certificate common name in tls-server-auth: no '=', ',' or whitespace.
_CN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")
_VERSION_RE = re.compile(r"([0-9]+)\.([0-9]+)")
_LSN_RE = re.compile(r"([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})")
_WAL_RE = re.compile(r"([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})")
_TIME_RE = re.compile(
    r"(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)\s*(Z|UTC|[+-]\d{2}(?::?\d{2})?)")
TIME_FORMATS = ("YYYY-MM-DD HH:MM:SS+HH", "YYYY-MM-DD HH:MM:SS+HH:MM", "YYYY-MM-DDTHH:MM:SSZ",
                "YYYY-MM-DD HH:MM:SS.ffffff UTC")
TARGET_TYPES = ("time", "lsn", "name", "immediate", "latest")
# PostgreSQL's limit for a restore point name (NAMEDATALEN - 1).
MAX_RESTORE_POINT = 63


class PgbackrestError(ValueError):
    """Input that cannot be used; the message says what is wrong and where."""


def _as_flag(value):
    """'y' or 'n' from a bool or y/n/yes/no/true/false; None when it is neither."""
    if isinstance(value, bool):
        return "y" if value else "n"
    if isinstance(value, str):
        low = value.lower()
        if low in ("y", "yes", "true", "on"):
            return "y"
        if low in ("n", "no", "false", "off"):
            return "n"
    return None


def _version(text):
    match = _VERSION_RE.match(str(text or OLDEST_VERSION))
    return (int(match.group(1)), int(match.group(2))) if match else None


# -- validation -------------------------------------------------------------
def _name(var, key):
    return f"{var}.{key}" if key else var


def _text(var, key, value, errors, secret=False, cluster=None):
    """The value as config text, or None after adding a message when it cannot go in the file."""
    shown = "" if secret else f" {value!r}"
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        errors.append(f"{_name(var, key)}: expected a string, got {type(value).__name__}{shown}; "
                      "quote the value")
        return None
    text = str(value)
    if cluster is not None:
        text = text.replace(CLUSTER_TOKEN, cluster)
    if not text:
        errors.append(f"{_name(var, key)} is empty; set a value or remove the key")
        return None
    if not _SAFE_RE.fullmatch(text):
        errors.append(f"{_name(var, key)}{shown} has whitespace, '#', a quote or a control character, "
                      "which pgbackrest.conf cannot hold; remove them")
        return None
    return text


def _path(var, key, value, errors, cluster):
    text = _text(var, key, value, errors, cluster=cluster)
    if text is not None and not text.startswith("/"):
        errors.append(f"{_name(var, key)} {value!r} is not an absolute path; start it with '/'")
        return None
    return text


def _choice(var, key, value, allowed, errors):
    if value not in allowed:
        errors.append(f"{_name(var, key)} {value!r} is not one of {', '.join(allowed)}; use one of them")
        return None
    return value


def _count(var, key, value, errors, low, high):
    number = as_int(value)
    if number is None or not low <= number <= high:
        errors.append(f"{_name(var, key)} {value!r} is not a whole number from {low} to {high}; "
                      f"set it to {low} or more")
        return None
    return number


def _flag(var, key, value, errors):
    flag = _as_flag(value)
    if flag is None:
        errors.append(f"{_name(var, key)} {value!r} is not a boolean; use true or false (or y / n)")
    return flag


def _size(var, key, value, errors):
    text = str(value) if as_int(value) is not None else value
    if not isinstance(text, str) or not _SIZE_RE.fullmatch(text):
        errors.append(f"{var}.{key} {value!r} is not a size; use a number with an optional unit "
                      "such as 20MiB or 2GB")
        return None
    return text


def _host(var, key, value, errors):
    if not isinstance(value, str) or not _HOST_RE.fullmatch(value):
        errors.append(f"{_name(var, key)} {value!r} is not a host name or address; "
                      "give a DNS name or an IP (an IPv6 address in brackets), without scheme or port")
        return None
    return value


def _check_bucket(var, key, value, errors):
    if not isinstance(value, str) or not _BUCKET_RE.fullmatch(value) or ".." in value:
        errors.append(f"{var}.{key} {value!r} is not an S3 bucket name; use 3 to 63 lower-case "
                      "letters, digits, '.' and '-', starting and ending with a letter or digit")
        return None
    return value


def _check_region(var, key, value, errors):
    if not isinstance(value, str) or not _REGION_RE.fullmatch(value):
        errors.append(f"{var}.{key} {value!r} is not an S3 region; use a name such as us-east-1 "
                      "(MinIO accepts any, Pigsty uses us-east-1)")
        return None
    return value


# The repository options the collection maps to pgbackrest.conf, by kind.
# Each is written as repo1-<key with '-' for '_'>.
REPO_OPTIONS = {
    "type": "type",
    "path": "path",
    "s3_endpoint": "host",
    "s3_region": "region",
    "s3_bucket": "bucket",
    "s3_key": "text",
    "s3_key_secret": "secret",
    "s3_key_type": "s3_key_type",
    "s3_uri_style": "uri_style",
    "storage_host": "host",
    "storage_port": "port",
    "storage_ca_file": "path",
    "storage_ca_path": "path",
    "storage_verify_tls": "flag",
    "host": "host",
    "host_port": "port",
    "block": "flag",
    "bundle": "flag",
    "bundle_limit": "size",
    "bundle_size": "size",
    "cipher_type": "cipher_type",
    "cipher_pass": "secret",
    "retention_full_type": "retention_full_type",
    "retention_full": "retention",
    "retention_diff": "retention",
    "retention_archive": "retention",
    "retention_archive_type": "retention_archive_type",
}
# A repository host: pgBackRest's own TLS server (`pgbackrest server`) on a
# host of the inventory that keeps the repository; the members reach it as
# clients and it reaches them back to take backups. Every other repository
# option then applies on that host only.
HOST_KEYS = ("host", "host_port")
TLS_SERVER_PORT = 8432
# The files of the TLS server and its clients, on every host involved: a
# certificate whose common name is the host's inventory name (pgBackRest
# authorises a client by its certificate's CN), its key, and the CA.
TLS_FILES = ("cert_file", "key_file", "ca_file")
# Options that only make sense for an object store.
S3_ONLY = ("s3_endpoint", "s3_region", "s3_bucket", "s3_key", "s3_key_secret", "s3_key_type",
           "s3_uri_style", "storage_host", "storage_port", "storage_ca_file", "storage_ca_path",
           "storage_verify_tls")


def _repo_value(var, key, value, errors, cluster):
    """The checked config text of one repository option, or None (with a message added)."""
    kind = REPO_OPTIONS[key]
    if kind == "path":
        return _path(var, key, value, errors, cluster)
    if kind == "host":
        return _host(var, key, value, errors)
    if kind == "region":
        return _check_region(var, key, value, errors)
    if kind == "bucket":
        return _check_bucket(var, key, value, errors)
    if kind == "text":
        return _text(var, key, value, errors, cluster=cluster)
    if kind == "secret":
        return _text(var, key, value, errors, secret=True)
    if kind == "port":
        number = _count(var, key, value, errors, 1, 65535)
        return None if number is None else str(number)
    if kind == "flag":
        return _flag(var, key, value, errors)
    if kind == "size":
        return _size(var, key, value, errors)
    if kind == "retention":
        number = _count(var, key, value, errors, 1, MAX_RETENTION)
        return None if number is None else str(number)
    if kind == "s3_key_type":
        return _choice(var, key, value, S3_KEY_TYPES, errors)
    if kind == "uri_style":
        return _choice(var, key, value, S3_URI_STYLES, errors)
    if kind == "cipher_type":
        return _choice(var, key, value, CIPHER_TYPES, errors)
    if kind == "retention_full_type":
        return _choice(var, key, value, RETENTION_FULL_TYPES, errors)
    if kind == "retention_archive_type":
        return _choice(var, key, value, RETENTION_ARCHIVE_TYPES, errors)
    return _text(var, key, value, errors, cluster=cluster)  # "type", checked by the caller


def check_repo(method, repos, cluster="pg-cluster", version=None):
    """(errors, options): the messages, and the chosen entry as {key: config text}.

    `version` is the pgBackRest release on the hosts ("2.45" when not given,
    the oldest the collection supports); it decides whether `block` is allowed.
    ANY_VERSION skips that one rule, for a check made before the hosts are
    reached.
    """
    errors = []
    if not isinstance(method, str) or not method:
        return [f"pgbackrest_method {method!r} is not a repository name; set it to a key of "
                "pgbackrest_repo (Pigsty's are local and minio)"], {}
    if not isinstance(repos, dict) or not repos:
        return [f"pgbackrest_repo is {type(repos).__name__}, not a mapping of repository names to "
                "settings; define at least the entry pgbackrest_method names"], {}
    if method not in repos:
        return [f"pgbackrest_method {method!r} names no entry of pgbackrest_repo (it has: "
                f"{', '.join(sorted(map(str, repos)))}); set pgbackrest_method to one of them "
                "or add the entry"], {}
    var = f"pgbackrest_repo.{method}"
    entry = repos[method]
    if not isinstance(entry, dict):
        return [f"{var} is {type(entry).__name__}, not a mapping of pgBackRest repository options"], {}
    unknown = sorted(str(k) for k in entry if k not in REPO_OPTIONS)
    if unknown:
        errors.append(f"{var} has unknown keys: {', '.join(unknown)}; the known keys are "
                      f"{', '.join(REPO_OPTIONS)}")
    repo_type = entry.get("type", "posix")
    if not isinstance(repo_type, str):
        errors.append(f"{var}.type {repo_type!r} is not a string; use one of {', '.join(SUPPORTED_TYPES)}")
        return errors, {}
    if repo_type in UNSUPPORTED_TYPES:
        errors.append(f"{var}.type {repo_type!r}: {UNSUPPORTED_TYPES[repo_type]}; use one of "
                      f"{', '.join(SUPPORTED_TYPES)}")
        return errors, {}
    if repo_type not in SUPPORTED_TYPES:
        errors.append(f"{var}.type {repo_type!r} is not a pgBackRest repository type the collection "
                      f"supports; use one of {', '.join(SUPPORTED_TYPES)} (a MinIO repository is s3)")
        return errors, {}

    options = {"type": repo_type}
    for key, value in entry.items():
        if key in REPO_OPTIONS and key != "type":
            text = _repo_value(var, key, value, errors, cluster)
            if text is not None:
                options[key] = text

    if repo_type == "posix":
        misplaced = [k for k in S3_ONLY if k in entry]
        if misplaced:
            errors.append(f"{var} is a posix repository but sets {', '.join(misplaced)}; "
                          "set type: s3 or remove them")
    else:
        for key in ("s3_bucket", "s3_region", "s3_endpoint"):
            if key not in entry:
                errors.append(f"{var}.{key} is missing; an s3 repository needs s3_bucket, s3_region "
                              "and s3_endpoint")
        if entry.get("s3_key_type", "shared") == "shared":
            for key in ("s3_key", "s3_key_secret"):
                if key not in entry:
                    errors.append(f"{var}.{key} is missing; set s3_key and s3_key_secret, or "
                                  "s3_key_type: auto to use the instance's IAM role")
        else:
            for key in ("s3_key", "s3_key_secret"):
                if key in entry:
                    errors.append(f"{var}.{key} is set with s3_key_type auto, which ignores it; "
                                  "remove it or use s3_key_type: shared")

    if "host_port" in entry and "host" not in entry:
        errors.append(f"{var}.host_port is set without host; set host (the repository host) or remove "
                      "host_port")

    cipher = entry.get("cipher_type", "none")
    if cipher == "aes-256-cbc":
        if "cipher_pass" not in entry:
            errors.append(f"{var}.cipher_pass is missing; aes-256-cbc needs a passphrase of at least "
                          f"{MIN_CIPHER_PASS} characters (keep it in a vault)")
        elif "cipher_pass" in options and len(options["cipher_pass"]) < MIN_CIPHER_PASS:
            errors.append(f"{var}.cipher_pass is shorter than {MIN_CIPHER_PASS} characters; use a "
                          "longer random passphrase (keep it in a vault)")
    elif "cipher_pass" in entry and cipher == "none":
        errors.append(f"{var}.cipher_pass is set but cipher_type is none, so the repository is not "
                      "encrypted; set cipher_type: aes-256-cbc or remove cipher_pass")

    if "retention_full" not in entry:
        errors.append(f"{var}.retention_full is missing; without it pgBackRest never expires a "
                      "backup and the repository grows until it is full; set a count (or days with "
                      "retention_full_type: time) of 1 or more")

    bundle = options.get("bundle", "n")
    if options.get("block") == "y":
        if bundle != "y":
            errors.append(f"{var}.block is on but bundle is not; pgBackRest needs bundle: true for "
                          "block incremental backups")
        found = BLOCK_STABLE_VERSION if version == ANY_VERSION else _version(version)
        if found is None:
            errors.append(f"pgbackrest version {version!r} is not a version such as 2.45")
        elif found < BLOCK_STABLE_VERSION:
            errors.append(f"{var}.block is on, but block incremental is for beta testing only in "
                          f"pgBackRest {version or OLDEST_VERSION} (stable from 2.46); set block: false")
    for key in ("bundle_limit", "bundle_size"):
        if key in entry and bundle != "y":
            errors.append(f"{var}.{key} is set but bundle is not on; set bundle: true or remove {key}")
    return errors, options


def repo_errors(method, repos, cluster="pg-cluster", version=None):
    """Every problem with `pgbackrest_method` and its `pgbackrest_repo` entry, as messages.

    Each message names the variable and says how to fix it; a secret's value
    (`s3_key_secret`, `cipher_pass`) never appears in one. An empty list means
    `conf_sections` can use the settings.
    """
    return check_repo(method, repos, cluster=cluster, version=version)[0]


def stanza_errors(stanza):
    """A message when `stanza` cannot be a pgBackRest stanza name, else an empty list."""
    if not isinstance(stanza, str) or not _STANZA_RE.fullmatch(stanza):
        return [f"stanza {stanza!r} is not a pgBackRest stanza name (pg_cluster); use letters, "
                "digits, '_', '.' and '-', starting with a letter or digit"]
    return []


# -- scheduled backups -------------------------------------------------------
SCHEDULE_TYPES = ("full", "diff", "incr")
SCHEDULE_KEYS = ("type", "on_calendar")
# What cannot be in a systemd OnCalendar= value written into a unit file: a
# line break or other control character, '#', a quote or a backslash.
_CALENDAR_BAD_RE = re.compile(r"[#'\"\\\x00-\x1f\x7f]")
_SCHEDULE_EXAMPLE = ("[{type: full, on_calendar: 'Sun *-*-* 01:00:00'}, "
                     "{type: diff, on_calendar: 'Mon..Sat *-*-* 01:00:00'}]")


def schedule_errors(schedule, var="pgbackrest_schedule"):
    """Every problem with a backup schedule, as messages.

    A schedule is a list of {type: full|diff|incr, on_calendar: <systemd
    calendar expression>}, at most one item per type. An empty list means no
    scheduled backup. A schedule without a full backup is allowed: pgBackRest
    takes a full backup when a diff or incr one has no full to build on.
    Only the form of on_calendar is checked here (a non-empty single-line
    string without '#', quotes, backslashes or surrounding whitespace), not
    systemd's calendar syntax.
    """
    if isinstance(schedule, (str, dict)) or not isinstance(schedule, (list, tuple)):
        return [f"{var} is {type(schedule).__name__}, not a list; write it as a list such as "
                f"{_SCHEDULE_EXAMPLE}, or [] for no scheduled backup"]
    errors = []
    seen = {}
    for number, item in enumerate(schedule, start=1):
        where = f"{var} item {number}"
        if not isinstance(item, dict):
            errors.append(f"{where} is {type(item).__name__}, not a mapping; write each item as "
                          "{type: full, on_calendar: 'Sun *-*-* 01:00:00'}")
            continue
        unknown = sorted(str(key) for key in item if key not in SCHEDULE_KEYS)
        if unknown:
            errors.append(f"{where} has unknown keys: {', '.join(unknown)}; "
                          "the keys are type and on_calendar")
        kind = item.get("type")
        if kind not in SCHEDULE_TYPES:
            shown = "missing" if kind is None else repr(kind)
            errors.append(f"{where}: type is {shown}; use one of {', '.join(SCHEDULE_TYPES)}")
        else:
            seen.setdefault(kind, []).append(number)
        calendar = item.get("on_calendar")
        if not isinstance(calendar, str) or not calendar.strip():
            errors.append(f"{where}: on_calendar is {'missing' if calendar is None else repr(calendar)}; "
                          "give a systemd calendar expression such as 'Sun *-*-* 01:00:00' "
                          "(see man systemd.time)")
        elif _CALENDAR_BAD_RE.search(calendar):
            errors.append(f"{where}: on_calendar {calendar!r} has a line break, '#', a quote or a backslash, "
                          "which a systemd timer unit cannot hold; write the expression alone, such as "
                          "'Sun *-*-* 01:00:00'")
        elif calendar != calendar.strip():
            errors.append(f"{where}: on_calendar {calendar!r} has spaces around it; remove them")
    for kind, numbers in seen.items():
        if len(numbers) > 1:
            errors.append(f"{var} has type {kind} in items {', '.join(map(str, numbers))}; keep one item per "
                          "type and put all its times in one calendar expression, such as "
                          "'Mon,Thu *-*-* 01:00:00'")
    return errors


# -- pgbackrest.conf --------------------------------------------------------
def _tls_paths(tls, errors):
    """The TLS files {cert_file, key_file, ca_file} as checked absolute paths."""
    if not isinstance(tls, dict):
        errors.append("a repository host needs the TLS files (cert_file, key_file, ca_file) of this host")
        return {}
    out = {}
    for key in TLS_FILES:
        text = _path("tls", key, tls.get(key), errors, None)
        if text is not None:
            out[key] = text
    return out


def _cn(var, value, errors):
    if not isinstance(value, str) or not _CN_RE.fullmatch(value):
        errors.append(f"{var} {value!r} cannot be a certificate common name in tls-server-auth; "
                      "use an inventory host name of letters, digits, '.', '_', ':' and '-'")
        return None
    return value


def _server_options(address, tls_files, auth):
    """pgBackRest's TLS server: where it listens, its certificate, and who may call it for which stanzas."""
    options = [("tls-server-address", address)]
    options += [(f"tls-server-{key.replace('_', '-')}", tls_files[key]) for key in TLS_FILES]
    options += [("tls-server-auth", f"{cn}={','.join(stanzas)}") for cn, stanzas in auth]
    return options


def _client_options(prefix, tls_files):
    """A TLS client's options towards a remote: repo1-host-* or pgN-host-*."""
    return [(f"{prefix}-host-type", "tls")] + [
        (f"{prefix}-host-{key.replace('_', '-')}", tls_files[key]) for key in TLS_FILES]


def _repo_options(options):
    """repo1-* lines of the storage options (a repository host's own keys left out), and the secret names."""
    storage = [(key, value) for key, value in options.items() if key not in HOST_KEYS]
    lines = [(f"repo1-{key.replace('_', '-')}", value) for key, value in storage]
    secrets = [f"repo1-{key.replace('_', '-')}" for key in SECRET_KEYS if key in options]
    return lines, secrets


def chosen_entry(method, repos):
    """The entry of `repos` (pgbackrest_repo) that `method` names, or {} when there is none."""
    entry = repos.get(method) if isinstance(repos, dict) and isinstance(method, str) else None
    return entry if isinstance(entry, dict) else {}


def repo_host(method, repos):
    """The `host` of the chosen repository entry (a repository host's address), or None."""
    return chosen_entry(method, repos).get("host")


def storage_settings(method, repos):
    """The chosen entry but its `host` (an address or a name of the same host): what clusters of one
    repository host must agree on, its port included."""
    return {key: value for key, value in chosen_entry(method, repos).items() if key != "host"}


def conf_sections(stanza, method, repos, pg_data, pg_port=5432, socket_path="/var/run/postgresql",
                  log_dir="/pg/log/pgbackrest", version=None, tls=None, address=None, repo_host_cn=None):
    """A member's pgbackrest.conf as data: {"sections": [(name, [(option, value), ...])], "secrets": [...]}.

    `[global]` holds the repository (repo1-*) and `log-path`
    (`pgbackrest_log_dir`); `[<stanza>]` holds pg1-path, pg1-port and
    pg1-socket-path. `secrets` lists the option names whose values are
    secret (repo1-s3-key-secret, repo1-cipher-pass): the caller keeps them
    out of logs (no_log) and writes the file 0640 root:postgres.

    When the chosen entry has `host` (a repository host), `[global]` holds
    only the way there instead (repo1-host, TLS client files) and this
    member's own TLS server, which the repository host calls to take backups:
    `address` is where it listens, `tls` its files ({cert_file, key_file,
    ca_file}), `repo_host_cn` the repository host's certificate CN, the only
    client it admits, for this stanza only. The storage options go to the
    repository host (`repository_sections`). Raises PgbackrestError, with
    every message joined, when the settings are not valid.
    """
    errors = stanza_errors(stanza)
    cluster = stanza if not errors else "pg-cluster"
    repo_problems, options = check_repo(method, repos, cluster=cluster, version=version)
    errors.extend(repo_problems)
    for var, value in (("pg_data", pg_data), ("pgbackrest_log_dir", log_dir),
                       ("pg_socket_path", socket_path)):
        _path(var, "", value, errors, None)
    if as_int(pg_port) is None or not 1 <= as_int(pg_port) <= 65535:
        errors.append(f"pg_port {pg_port!r} is not a port number from 1 to 65535")
    remote = "host" in options
    if remote:
        tls_files = _tls_paths(tls, errors)
        _host("the member's address", "", address, errors)
        _cn("the repository host", repo_host_cn, errors)
    if errors:
        raise PgbackrestError("; ".join(errors))
    if remote:
        global_section = [("repo1-host", options["host"])]
        if "host_port" in options:
            global_section.append(("repo1-host-port", options["host_port"]))
        global_section += _client_options("repo1", tls_files) + [("log-path", log_dir)]
        global_section += _server_options(address, tls_files, [(repo_host_cn, [stanza])])
        secrets = []
    else:
        repo, secrets = _repo_options(options)
        global_section = repo + [("log-path", log_dir)]
    stanza_section = [("pg1-path", pg_data), ("pg1-port", str(as_int(pg_port))),
                      ("pg1-socket-path", socket_path)]
    return {"sections": [("global", global_section), (stanza, stanza_section)], "secrets": secrets}


def repository_sections(clusters, address, tls, log_dir="/var/log/pgbackrest", version=None):
    """A repository host's pgbackrest.conf as data, in `conf_sections`' shape.

    `clusters` lists the clusters this host keeps backups of, each a dict:
    `stanza`, `method` and `repos` (the members' pgbackrest_method and
    pgbackrest_repo; the entry's `host` names this host), `backup_standby`
    (copy the files from a standby), and `members`, a list of dicts with
    `name` (the inventory name, the CN of its certificate), `address`,
    `pg_data` and `pg_port`. Every cluster must choose the same storage
    settings: they go to [global], where pgBackRest keeps every stanza under
    one repository. This host's TLS server listens on `address` and admits
    each member for its own stanza.
    """
    errors = []
    tls_files = _tls_paths(tls, errors)
    if errors:
        raise PgbackrestError("; ".join(errors))
    _host("the repository host's address", "", address, errors)
    _path("pgbackrest_log_dir", "", log_dir, errors, None)
    if not isinstance(clusters, (list, tuple)) or not clusters:
        errors.append("the repository host keeps no cluster's backups; list at least one")
        clusters = []
    storage = None
    options = {}
    auth = []
    sections = []
    for item in clusters:
        stanza = item.get("stanza")
        problems = stanza_errors(stanza)
        if problems:
            errors.extend(problems)
            continue
        settings = storage_settings(item.get("method"), item.get("repos"))
        if storage is None:
            storage = settings
            # No ${pg_cluster} here: the one [global] serves every stanza.
            problems, options = check_repo(item.get("method"), item.get("repos"), cluster=stanza,
                                           version=version)
            errors.extend(f"cluster {stanza}: {problem}" for problem in problems)
            if any(CLUSTER_TOKEN in str(value) for value in settings.values()):
                errors.append(f"cluster {stanza}: pgbackrest_repo.{item.get('method')} uses {CLUSTER_TOKEN}, "
                              "which a repository host shared by its clusters cannot honour; write the "
                              "path out (pgBackRest keeps each stanza apart under it)")
        elif settings != storage:
            errors.append(f"cluster {stanza}: pgbackrest_repo.{item.get('method')} differs from the settings "
                          f"of cluster {clusters[0].get('stanza')}, which use the same repository host; give "
                          "the clusters of one repository host the same repository entry (values not shown)")
        members = item.get("members") or []
        if not members:
            errors.append(f"cluster {stanza} has no member to back up")
        lines = []
        for index, member in enumerate(members, start=1):
            name = _cn(f"cluster {stanza}: member", member.get("name"), errors)
            if name is not None:
                auth.append((name, [stanza]))
            host = _host(f"cluster {stanza}: the address of member {name}", "", member.get("address"), errors)
            data = _path(f"cluster {stanza}: member {name}", "pg_data", member.get("pg_data"), errors, None)
            port = as_int(member.get("pg_port", 5432))
            if port is None or not 1 <= port <= 65535:
                errors.append(f"cluster {stanza}: member {name}: pg_port {member.get('pg_port')!r} "
                              "is not a port")
            found = member.get("version")
            if found and version and found != version:
                errors.append(f"cluster {stanza}: member {name} runs pgBackRest {found} and the repository "
                              f"host {version}; pgBackRest needs the same release on both: install it")
            prefix = f"pg{index}"
            lines += [(f"{prefix}-host", host)] + _client_options(prefix, tls_files)
            lines += [(f"{prefix}-path", data), (f"{prefix}-port", str(port))]
        flag = _flag(f"cluster {stanza}: pgbackrest_backup_standby", "", item.get("backup_standby", False),
                     errors)
        if flag == "y":
            if len(members) < 2:
                errors.append(f"cluster {stanza}: pgbackrest_backup_standby is on but the cluster has one "
                              "member, so there is no standby to copy from; turn it off or add a replica")
            lines.append(("backup-standby", "y"))
        sections.append((stanza, lines))
    if errors:
        raise PgbackrestError("; ".join(errors))
    repo, secrets = _repo_options(options)
    server = _server_options(address, tls_files, auth)
    if "host_port" in options:
        server.insert(1, ("tls-server-port", options["host_port"]))
    global_section = repo + [("log-path", log_dir)] + server
    return {"sections": [("global", global_section)] + sections, "secrets": secrets}


def render_conf(conf, header="# Managed by pgha.cloud; changes are overwritten."):
    """INI text of `conf_sections`' result, one blank line between sections."""
    blocks = [header] if header else []
    for name, options in conf["sections"]:
        lines = [f"[{name}]"] + [f"{key}={value}" for key, value in options]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def archive_command(stanza, create_stanza=False):
    """PostgreSQL's archive_command for `stanza` (set through Patroni).

    With `create_stanza` (a posix repository, each member's own), a push
    that fails makes the stanza and tries once more: pgBackRest makes a
    stanza only on a primary, so a member that becomes primary after a
    failover finds none in its own repository. The shell runs the command.
    """
    if stanza_errors(stanza):
        raise PgbackrestError(stanza_errors(stanza)[0])
    push = f"pgbackrest --stanza={stanza} archive-push %p"
    if create_stanza:
        return f"{push} || (pgbackrest --stanza={stanza} stanza-create && {push})"
    return push


def restore_command(stanza):
    """PostgreSQL's restore_command for `stanza` (Patroni's recovery_conf / postgresql.parameters)."""
    if stanza_errors(stanza):
        raise PgbackrestError(stanza_errors(stanza)[0])
    return f'pgbackrest --stanza={stanza} archive-get %f "%p"'


def restore_options(target, backup_set=None):
    """pgbackrest restore's options for a checked target ({"type", "value"}), as argv items.

    Every target but latest promotes where it stops (a named restore point
    that does not exist makes recovery fail at the end of WAL instead of
    promoting somewhere else: PostgreSQL 13 and later refuse to finish
    recovery short of a target). latest recovers to the end of the archive.
    """
    kind = target.get("type")
    if kind not in TARGET_TYPES:
        raise PgbackrestError(f"restore target type {kind!r} is not one of {', '.join(TARGET_TYPES)}")
    if kind == "latest":
        options = ["--type=default"]
    elif kind == "immediate":
        options = ["--type=immediate", "--target-action=promote"]
    else:
        options = [f"--type={kind}", f"--target={target.get('value')}", "--target-action=promote"]
    if backup_set:
        if not re.fullmatch(r"[0-9]{8}-[0-9]{6}F(?:_[0-9]{8}-[0-9]{6}[DI])?", backup_set):
            raise PgbackrestError(f"backup set {backup_set!r} is not a pgBackRest backup label such as "
                                  "20261205-101500F or 20261205-101500F_20261205-111500I")
        options.append(f"--set={backup_set}")
    return options


# -- pgbackrest info --------------------------------------------------------
def _get(obj, key, where, kinds):
    if not isinstance(obj, dict) or key not in obj:
        raise PgbackrestError(f"pgbackrest info output: {where} has no '{key}'")
    value = obj[key]
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = "/".join(k.__name__ for k in kinds)
        raise PgbackrestError(f"pgbackrest info output: {where}.{key} is {type(value).__name__}, "
                              f"expected {names}")
    return value


def _epoch(value):
    return datetime.fromtimestamp(value, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _now_epoch(now):
    if now is None:
        return int(datetime.now(timezone.utc).timestamp())
    if isinstance(now, datetime):
        if now.tzinfo is None:
            raise PgbackrestError("now is a naive datetime; give it a time zone (UTC)")
        return int(now.timestamp())
    if isinstance(now, (int, float)) and not isinstance(now, bool):
        return int(now)
    raise PgbackrestError(f"now {now!r} is neither epoch seconds nor a datetime")


def _backup(raw, where):
    timestamp = _get(raw, "timestamp", where, dict)
    info = _get(raw, "info", where, dict)
    repository = _get(info, "repository", f"{where}.info", dict)
    archive = raw.get("archive") or {}
    lsn = raw.get("lsn") or {}
    database = _get(raw, "database", where, dict)
    kind = _get(raw, "type", where, str)
    if kind not in ("full", "diff", "incr"):
        raise PgbackrestError(f"pgbackrest info output: {where}.type {kind!r} is not full, diff or incr")
    start = _get(timestamp, "start", f"{where}.timestamp", int)
    stop = _get(timestamp, "stop", f"{where}.timestamp", int)
    return {
        "label": _get(raw, "label", where, str),
        "type": kind,
        "prior": raw.get("prior"),
        "start": start, "stop": stop, "start_time": _epoch(start), "stop_time": _epoch(stop),
        "database_size": _get(info, "size", f"{where}.info", int),
        "database_delta": _get(info, "delta", f"{where}.info", int),
        "repo_size": _get(repository, "size", f"{where}.info.repository", int),
        "repo_delta": _get(repository, "delta", f"{where}.info.repository", int),
        "wal_start": archive.get("start"), "wal_stop": archive.get("stop"),
        "lsn_start": lsn.get("start"), "lsn_stop": lsn.get("stop"),
        "db_id": _get(database, "id", f"{where}.database", int),
        "repo_key": database.get("repo-key"),
        "error": raw.get("error"),
        "annotation": raw.get("annotation"),
    }


def _stanza(raw, where, now):
    name = _get(raw, "name", where, str)
    where = f"stanza {name}"
    status = _get(raw, "status", where, dict)
    backups = [_backup(b, f"{where} backup[{i}]")
               for i, b in enumerate(_get(raw, "backup", where, list))]
    archive = []
    for i, a in enumerate(_get(raw, "archive", where, list)):
        spot = f"{where} archive[{i}]"
        archive.append({"id": _get(a, "id", spot, str),
                        "db_id": _get(_get(a, "database", spot, dict), "id", f"{spot}.database", int),
                        "min": a.get("min"), "max": a.get("max")})
    databases = [{"id": _get(d, "id", f"{where} db[{i}]", int), "version": d.get("version"),
                  "system_id": d.get("system-id")}
                 for i, d in enumerate(_get(raw, "db", where, list))]
    repos = [{"key": r.get("key"), "cipher": r.get("cipher"),
              "status_code": (r.get("status") or {}).get("code"),
              "status_message": (r.get("status") or {}).get("message")}
             for r in raw.get("repo") or []]
    latest = backups[-1] if backups else None
    return {
        "stanza": name,
        "status_code": _get(status, "code", f"{where} status", int),
        "status_message": _get(status, "message", f"{where} status", str),
        "backup_lock_held": bool(((status.get("lock") or {}).get("backup") or {}).get("held")),
        "cipher": raw.get("cipher"),
        "databases": databases,
        "repos": repos,
        "backups": backups,
        "archive": archive,
        "latest_backup": latest["label"] if latest else None,
        "latest_backup_stop_time": latest["stop_time"] if latest else None,
        "latest_backup_age": (now - latest["stop"]) if latest else None,
        "now": now,
    }


def parse_info(json_text, now=None):
    """{stanza name: summary} from the text of `pgbackrest info --output=json`.

    A summary holds the status (code 0 ok, 1 missing stanza path, 2 no valid
    backups, 99 other: see status_message), the backups oldest first (label,
    type, start/stop as epoch seconds and ISO UTC text, database and
    repository sizes and deltas in bytes, first/last WAL segment and LSN,
    the error flag pgBackRest sets for a backup with page checksum errors),
    the archived WAL range per database id, the repositories' status, and
    the latest backup with its age in seconds at `now` (epoch seconds or an
    aware datetime; the current time when not given). Raises PgbackrestError
    naming the missing or mistyped field when the text is not that output.
    """
    now = _now_epoch(now)
    try:
        data = json.loads(json_text)
    except (TypeError, ValueError) as exc:
        raise PgbackrestError(f"pgbackrest info output is not JSON ({exc}); "
                              "run pgbackrest info with --output=json") from None
    if not isinstance(data, list):
        raise PgbackrestError(f"pgbackrest info output is a {type(data).__name__}, not the list of "
                              "stanzas pgbackrest info --output=json prints")
    result = {}
    for i, raw in enumerate(data):
        summary = _stanza(raw, f"stanza[{i}]", now)
        result[summary["stanza"]] = summary
    return result


# -- clones ------------------------------------------------------------------
# pgBackRest's status codes for a stanza the repository does not hold.
_NO_STANZA = (1, 3)


def clone_errors(source, cluster, pg_version):
    """Why cluster `cluster` cannot be restored from the backups of stanza `source`, as messages.

    `source` is the stanza's summary (parse_info / pgha.cloud.pgbackrest_info)
    read through `cluster`'s own pgBackRest configuration: a clone reads the
    other cluster's backups from the repository both clusters use, so a
    stanza this repository does not hold (a posix repository is each member's
    own) is refused, and so is a PostgreSQL major version other than the
    cluster's (`pg_version`): pgBackRest restores files, not dumps.
    """
    name = source.get("stanza") if isinstance(source, dict) else None
    errors = stanza_errors(name)
    if errors or name == cluster:
        return errors
    if source.get("status_code") in _NO_STANZA:
        return [f"the repository of cluster {cluster} holds no stanza {name} "
                f"({source.get('status_message')}); a clone restores from the repository both clusters "
                f"back up into: give {cluster} the same pgbackrest_repo entry (an s3 bucket, not a posix "
                f"directory on each member) as {name}"]
    versions = [d.get("version") for d in source.get("databases") or []]
    if versions and str(versions[-1]) != str(pg_version):
        errors.append(f"stanza {name} holds PostgreSQL {versions[-1]} and cluster {cluster} runs "
                      f"PostgreSQL {pg_version}; a clone needs the same major version (restore into a "
                      f"cluster deployed with pg_version {versions[-1]})")
    return errors


def clone_stanza_command(own, cluster):
    """The pgbackrest command that makes `cluster`'s own stanza follow cloned data.

    `own` is the summary of the cluster's stanza. Cloned data has the source's
    system identifier, so the stanza the cluster had no longer matches it:
    stanza-upgrade records the new database and keeps the earlier backups
    (restorable to the time before the clone); with no stanza yet, stanza-create.
    """
    errors = stanza_errors(cluster)
    if errors:
        raise PgbackrestError(errors[0])
    command = "stanza-create" if own.get("status_code") in _NO_STANZA else "stanza-upgrade"
    return ["pgbackrest", f"--stanza={cluster}", "--log-level-console=info", command]


# -- restore targets --------------------------------------------------------
def parse_lsn(text):
    """An LSN such as 0/3000100 as an int; PgbackrestError when it is not one."""
    match = _LSN_RE.fullmatch(text) if isinstance(text, str) else None
    if not match:
        raise PgbackrestError(f"LSN {text!r} is not in PostgreSQL's form XXXXXXXX/XXXXXXXX "
                              "(two hexadecimal numbers, e.g. 0/3000100)")
    return (int(match.group(1), 16) << 32) | int(match.group(2), 16)


def format_lsn(value):
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def wal_lsn_range(segment, wal_segment_size=DEFAULT_WAL_SEGMENT_SIZE):
    """(first LSN, end LSN) of a WAL segment file name such as 000000010000000000000003."""
    match = _WAL_RE.fullmatch(segment) if isinstance(segment, str) else None
    if not match:
        raise PgbackrestError(f"WAL segment {segment!r} is not a 24-hexadecimal-digit file name")
    per_id = 0x100000000 // wal_segment_size
    start = int(match.group(2), 16) * 0x100000000 + int(match.group(3), 16) % per_id * wal_segment_size
    return start, start + wal_segment_size


def parse_time(text):
    """A recovery_target_time with an explicit zone as epoch seconds (float)."""
    match = _TIME_RE.fullmatch(text.strip()) if isinstance(text, str) else None
    if not match:
        raise PgbackrestError(f"time {text!r} is not a time with a zone; use one of "
                              f"{', '.join(TIME_FORMATS)} (a time without a zone would be read in "
                              "the server's time zone)")
    zone = match.group(3)
    if zone in ("Z", "UTC"):
        zone = "+00:00"
    elif len(zone) == 3:
        zone += ":00"
    elif ":" not in zone:
        zone = f"{zone[:3]}:{zone[3:]}"
    try:
        moment = datetime.fromisoformat(f"{match.group(1)}T{match.group(2)}{zone}")
    except ValueError as exc:
        raise PgbackrestError(f"time {text!r} is not a valid date and time ({exc})") from None
    return moment.timestamp()


def restore_target_errors(summary, target, now=None, wal_segment_size=DEFAULT_WAL_SEGMENT_SIZE):
    """Why a point-in-time target cannot be reached from this stanza's repository, as messages.

    `summary` is one stanza of `parse_info`; `target` is {"type": ..., "value": ...}:

    - time: a time with an explicit zone (see TIME_FORMATS), not before the
      oldest backup's stop time (the earliest consistent point) and not after
      `now` (default: the summary's `now`). pgBackRest's info gives no time
      for archived WAL, so a time after the newest archived WAL but before
      now cannot be refused here: recovery then stops at the end of the
      archive.
    - lsn: XXXXXXXX/XXXXXXXX, not before the oldest backup's stop LSN and
      not past the end of the newest archived WAL segment
      (`wal_segment_size`, 16 MiB unless initdb was told otherwise).
    - name: a restore point made with pg_create_restore_point(). The
      repository does not record restore point names, so only the form of the
      name is checked (1 to 63 characters, no quote or control character); a
      name that was never created makes recovery run to the end of the WAL.
    - immediate / latest: no value; they need one backup.

    Every target needs a stanza whose status is ok and at least one backup.
    """
    errors = []
    if not isinstance(target, dict):
        return [f"restore target {target!r} is not a mapping with type and value"]
    kind = target.get("type")
    value = target.get("value")
    unknown = sorted(str(k) for k in target if k not in ("type", "value"))
    if unknown:
        errors.append(f"restore target has unknown keys: {', '.join(unknown)}; use type and value")
    if kind not in TARGET_TYPES:
        return errors + [f"restore target type {kind!r} is not one of {', '.join(TARGET_TYPES)}"]
    stanza = summary.get("stanza")
    backups = summary.get("backups") or []
    if summary.get("status_code") != 0 or not backups:
        return errors + [f"stanza {stanza} has no backup to restore from (pgBackRest status "
                         f"{summary.get('status_code')}: {summary.get('status_message')}); take a "
                         "backup first"]
    if kind in ("immediate", "latest"):
        if value not in (None, ""):
            errors.append(f"restore target {kind} takes no value (got {value!r}); remove value")
        return errors
    if kind == "name":
        if not isinstance(value, str) or not value or len(value) > MAX_RESTORE_POINT \
                or not re.fullmatch(r"[^'\"\\\x00-\x1f\x7f]+", value):
            errors.append(f"restore point name {value!r} is not 1 to {MAX_RESTORE_POINT} characters "
                          "without quotes, backslashes or control characters")
        return errors

    oldest = backups[0]
    if kind == "time":
        try:
            moment = parse_time(value)
        except PgbackrestError as exc:
            return errors + [f"restore target {exc}"]
        now = _now_epoch(now if now is not None else summary.get("now"))
        if moment < oldest["stop"] or moment > now:
            errors.append(f"restore target time {value} is outside what stanza {stanza} can reach: "
                          f"from {oldest['stop_time']} (the oldest backup, {oldest['label']}, ended) "
                          f"to {_epoch(now)} (now)")
        return errors

    try:
        lsn = parse_lsn(value)
    except PgbackrestError as exc:
        return errors + [f"restore target {exc}"]
    db_id = max(b["db_id"] for b in backups)
    ranges = [a for a in summary.get("archive") or [] if a["db_id"] == db_id and a.get("max")]
    if not ranges:
        return errors + [f"stanza {stanza} has no archived WAL for its current database; check "
                         "archive_command (pgbackrest check)"]
    floor = min(parse_lsn(b["lsn_stop"]) for b in backups if b["db_id"] == db_id and b.get("lsn_stop")) \
        if any(b.get("lsn_stop") for b in backups if b["db_id"] == db_id) else None
    ceiling = wal_lsn_range(ranges[-1]["max"], wal_segment_size)[1]
    if floor is None:
        return errors + [f"stanza {stanza}: the backups carry no stop LSN (pgBackRest older than "
                         "2.36?); use a time target"]
    if lsn < floor or lsn > ceiling:
        errors.append(f"restore target LSN {value} is outside what stanza {stanza} can reach: from "
                      f"{format_lsn(floor)} (the oldest backup's stop LSN) to {format_lsn(ceiling)} "
                      f"(the end of WAL segment {ranges[-1]['max']}, the newest archived)")
    return errors

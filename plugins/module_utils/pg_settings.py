# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL settings given by Pigsty's names: pg_libs (shared_preload_libraries), pg_extensions.

Pigsty writes pg_libs, a comma-separated string of libraries, into
shared_preload_libraries. Here it joins the parameters Patroni keeps in the
DCS; a library must be installed on every member (the patroni role checks its
file before it writes Patroni's configuration), and a change needs a restart
(playbooks/config.yml restarts the members one by one).

pg_extensions names extension packages to install, as in Pigsty: each item
holds one or more names (separated by commas or spaces); a name is an
extension (mapped to Debian's `postgresql-<version>-<package>`) or a package
name with Pigsty's `$v` / `${pg_version}` for the major version. Whether the
package exists is the host's repositories' to say: the postgres role looks
each one up before it installs anything, and names the missing ones.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

LIBRARY_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
PARAMETER = "shared_preload_libraries"


def libraries(value):
    """pg_libs as a list of names; [] when unset or empty. ValueError names the item and the fix."""
    if value is None:
        return []
    if not isinstance(value, str):
        raise ValueError(f"pg_libs {value!r} is not a string; write it as in Pigsty, "
                         "pg_libs: 'pg_stat_statements, auto_explain'")
    names = [part.strip() for part in value.split(",")]
    if names == [""]:
        return []
    for name in names:
        if not LIBRARY_RE.fullmatch(name):
            raise ValueError(f"pg_libs has {name!r}, which is not a library name (lower-case letters, digits "
                             "and _), separated by commas: pg_libs: 'pg_stat_statements, auto_explain'")
    if len(set(names)) < len(names):
        raise ValueError(f"pg_libs names a library twice: {value!r}")
    return names


def library_parameters(value, parameters=None):
    """{shared_preload_libraries: 'a,b'} for pg_libs, {} without.

    ValueError when `parameters` set shared_preload_libraries to other libraries.
    """
    names = libraries(value)
    if not names:
        return {}
    given = (parameters or {}).get(PARAMETER)
    if given is not None and [p.strip() for p in str(given).split(",") if p.strip()] != names:
        raise ValueError(f"pg_libs and {PARAMETER} in pg_parameters (or patroni_postgresql_parameters) "
                         "differ; set the libraries in one place")
    return {PARAMETER: ",".join(names)}


# Extension names whose Debian package is not postgresql-<version>-<name with - for _>.
EXTENSION_PACKAGES = {
    "vector": "pgvector",
    "postgis": "postgis-3",
    "postgis3": "postgis-3",
    "pg_cron": "cron",
    "pg_repack": "repack",
    "pg_partman": "partman",
    "pg_squeeze": "squeeze",
}
_EXTENSION_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,62}")
_PACKAGE_RE = re.compile(r"[a-z0-9][a-z0-9+.-]{0,100}")
# Pigsty's package groups of its own repository (pg18-time, pg17-gis, ...).
_GROUP_RE = re.compile(r"pg[0-9]{2}-[a-z]+")


def extension_names(value):
    """pg_extensions as a flat list of names; ValueError names the item and the fix."""
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"pg_extensions {value!r} is not a list; write it as in Pigsty, "
                         "pg_extensions: [postgis, pgvector]")
    names = []
    for item in value:
        if not isinstance(item, str):
            raise ValueError(f"pg_extensions has {item!r}, which is not a name")
        for name in re.split(r"[,\s]+", item.strip()):
            if not name:
                continue
            plain = name.replace("${pg_version}", "").replace("$v", "")
            if not _EXTENSION_NAME_RE.fullmatch(plain.strip("-") or "x") or "$" in plain:
                raise ValueError(f"pg_extensions has {name!r}, which is not an extension or package name "
                                 "(letters, digits, _ . + -, and $v or ${pg_version} for the version)")
            if _GROUP_RE.fullmatch(name):
                raise ValueError(f"pg_extensions has {name!r}, a package group of Pigsty's own repository, "
                                 "which Debian's repositories do not know; name the extensions instead")
            if name not in names:
                names.append(name)
    return names


def extension_packages(value, version):
    """[{name, package}]: the Debian package of each pg_extensions name for PostgreSQL `version`."""
    out = []
    for name in extension_names(value):
        if "$" in name:
            package = name.replace("${pg_version}", str(version)).replace("$v", str(version))
        else:
            suffix = EXTENSION_PACKAGES.get(name.lower(), name.lower().replace("_", "-"))
            package = f"postgresql-{version}-{suffix}"
        if not _PACKAGE_RE.fullmatch(package):
            raise ValueError(f"pg_extensions has {name!r}, which gives {package!r}, not a Debian package "
                             "name")
        if package not in [entry["package"] for entry in out]:
            out.append({"name": name, "package": package})
    return out

# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL settings given by Pigsty's names: pg_libs (shared_preload_libraries).

Pigsty writes pg_libs, a comma-separated string of libraries, into
shared_preload_libraries. Here it joins the parameters Patroni keeps in the
DCS; a library must be installed on every member (the patroni role checks its
file before it writes Patroni's configuration), and a change needs a restart
(playbooks/config.yml restarts the members one by one).
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

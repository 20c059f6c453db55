# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the parts of the drill share: the drill's database, its log lines, secrets kept out of messages."""

import os
import sys
import time

import psycopg
from psycopg import sql

TABLE = sql.Identifier("pgha_drill")
# The drill writes into a database of its own. One it creates carries this
# comment and is dropped at the end; one that exists without it (declared in
# pg_databases, as pgbouncer needs) is kept, and only the table is made anew.
DATABASE_NAME = "pgha_drill"
DATABASE = sql.Identifier(DATABASE_NAME)
DATABASE_MARK = "made by tools/pgha_drill.py, dropped when the drill ends"

# Which member served a statement. Behind pgbouncer the server's connection
# arrives over the local socket, where inet_server_addr() is NULL; the patroni
# role sets pgha.node_address to the member's address on every member.
SERVER = "coalesce(nullif(current_setting('pgha.node_address', true), ''), inet_server_addr()::text)"

# The only variables --secrets-from may set.
SECRET_VARIABLES = ("PGPASSWORD", "PGHA_PATRONI_AUTH")


def log(msg):
    print(f"[drill {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def scrub(text, environ=None):
    """`text` with the secrets of SECRET_VARIABLES masked: other programs' output goes into the results."""
    environ = os.environ if environ is None else environ
    for name in SECRET_VARIABLES:
        value = environ.get(name) or ""
        if name == "PGHA_PATRONI_AUTH":
            value = value.partition(":")[2]  # user:password; the user name is no secret
        if value:
            text = text.replace(value, "********")
    return text


def safe_dsn(dsn):
    """A DSN fit for a message: the password left out."""
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    info.pop("password", None)
    return psycopg.conninfo.make_conninfo(**info)

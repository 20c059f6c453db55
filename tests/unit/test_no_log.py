"""Tasks that read a file holding the cluster's secrets hide their result.

A slurp's result is the file's content (base64), which Ansible prints from
-v on. Patroni's configuration holds every PostgreSQL password and
pgBackRest's the S3 secret key and the cipher passphrase.
"""

import pathlib

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
SECRET_FILES = ("patroni.yml", "pgbackrest.conf", ".key")
READERS = ("ansible.builtin.slurp", "ansible.builtin.fetch")


def _tasks(items):
    for item in items or []:
        if not isinstance(item, dict):
            continue
        yield item
        for key in ("block", "rescue", "always", "tasks", "pre_tasks", "post_tasks", "handlers"):
            yield from _tasks(item.get(key))


def _files():
    return sorted(list((ROOT / "playbooks").glob("*.yml")) + list((ROOT / "roles").glob("*/tasks/*.yml")))


def _secret_reads():
    for path in _files():
        for task in _tasks(yaml.safe_load(path.read_text())):
            for reader in READERS:
                args = task.get(reader)
                if isinstance(args, dict) and str(args.get("src", "")).endswith(SECRET_FILES):
                    yield path.relative_to(ROOT), task.get("name"), task


def test_the_files_are_found():
    # The check below must see the playbooks that read Patroni's file.
    found = {str(read[0]) for read in _secret_reads()}
    assert {"playbooks/restore.yml", "playbooks/remove_cluster.yml"} <= found


@pytest.mark.parametrize("path,name,task",
                         [pytest.param(*read, id=f"{read[0]}: {read[1]}") for read in _secret_reads()])
def test_a_read_of_a_secret_file_is_not_logged(path, name, task):
    assert task.get("no_log") is True, f"{path}: task {name!r} reads a file with secrets; set no_log: true"

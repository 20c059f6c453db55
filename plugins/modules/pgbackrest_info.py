#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: pgbackrest_info
short_description: Read the backups and archived WAL of a pgBackRest stanza
version_added: 0.5.0
description:
  - Runs C(pgbackrest --stanza=<stanza> info --output=json) on the host and returns a summary of
    the stanza, the status, the backups oldest first, the archived WAL range per database and the
    age of the latest backup.
  - A stanza that pgBackRest reports but cannot use (no stanza yet, no valid backup, a repository
    it cannot read) is not a failure; the result has a non-zero RV(status_code) and
    pgBackRest's RV(status_message). Check them where a backup is required.
  - Written against pgBackRest 2.45 (Debian 12) and later releases.
author:
  - pgha.cloud contributors (@pgha-cloud)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - pgha.cloud.attributes.info_module
options:
  stanza:
    description:
      - The pgBackRest stanza, which the collection names after the cluster (C(pg_cluster)).
      - Letters, digits, C(_), C(.) and C(-), starting with a letter or digit.
    type: str
    required: true
  config:
    description:
      - The pgBackRest configuration file, passed as C(--config).
      - When not given, pgBackRest reads its default, C(/etc/pgbackrest/pgbackrest.conf) on Debian.
    type: path
  executable:
    description:
      - The pgbackrest program. When not given, C(pgbackrest) is looked up on E(PATH) and in the
        usual system directories.
    type: path
notes:
  - "Check mode: full support; the module only reads, so it runs the same in check mode."
  - "Diff mode: not applicable (nothing changes)."
  - "Idempotency: full; the module never changes anything."
  - "Run it as the user that owns the repository (C(become_user: postgres)); another user gets
    status 99 (permission denied) or an error about the lock or log path."
  - Fails, with pgBackRest's error message, when pgbackrest exits non-zero (a bad option, a missing
    configuration file) or prints something that is not its JSON info output.
seealso:
  - name: pgBackRest info command
    description: What the fields of the JSON output mean.
    link: https://pgbackrest.org/command.html#command-info
"""

EXAMPLES = r"""
- name: Read the backups of the cluster
  pgha.cloud.pgbackrest_info:
    stanza: "{{ pg_cluster }}"
  become: true
  become_user: postgres
  register: backups

- name: Require a full backup younger than a day
  ansible.builtin.assert:
    that:
      - backups.status_code == 0
      - backups.latest_backup_age < 86400
    fail_msg: >-
      stanza {{ backups.stanza }}: {{ backups.status_message }},
      latest backup {{ backups.latest_backup }}

- name: Read a stanza through another configuration file
  pgha.cloud.pgbackrest_info:
    stanza: pg-test
    config: /etc/pgbackrest/pgbackrest.conf
  become: true
  become_user: postgres
"""

RETURN = r"""
stanza:
  description: The stanza's name.
  returned: always
  type: str
  sample: pg-test
status_code:
  description: pgBackRest's status code of the stanza; 0 ok, 1 missing stanza path, 2 no valid
    backups, 3 missing stanza data, 99 other (see RV(status_message)).
  returned: always
  type: int
  sample: 0
status_message:
  description: pgBackRest's status message.
  returned: always
  type: str
  sample: ok
backup_lock_held:
  description: Whether a backup of the stanza is running.
  returned: always
  type: bool
  sample: false
cipher:
  description: The repository's encryption, C(none) or C(aes-256-cbc).
  returned: always
  type: str
  sample: none
databases:
  description: The PostgreSQL clusters the stanza has held (id, version, system identifier).
  returned: always
  type: list
  elements: dict
  sample: [{id: 1, version: "15", system_id: 7715637592504295450}]
repos:
  description: Each repository's key, cipher and status.
  returned: always
  type: list
  elements: dict
  sample: [{key: 1, cipher: none, status_code: 0, status_message: ok}]
backups:
  description: The backups, oldest first.
  returned: always
  type: list
  elements: dict
  contains:
    label:
      description: The backup label.
      type: str
    type:
      description: C(full), C(diff) or C(incr).
      type: str
    prior:
      description: The label of the backup this one depends on, null for a full backup.
      type: str
    start:
      description: Start time, epoch seconds.
      type: int
    stop:
      description: Stop time, epoch seconds; the earliest time the backup can be restored to.
      type: int
    start_time:
      description: Start time, ISO 8601 in UTC.
      type: str
    stop_time:
      description: Stop time, ISO 8601 in UTC.
      type: str
    database_size:
      description: Size of the database cluster at backup time, bytes.
      type: int
    database_delta:
      description: Bytes of the database cluster this backup copied.
      type: int
    repo_size:
      description: Bytes in the repository needed to restore this backup (compressed).
      type: int
    repo_delta:
      description: Bytes this backup added to the repository.
      type: int
    wal_start:
      description: First WAL segment the backup needs.
      type: str
    wal_stop:
      description: Last WAL segment the backup needs.
      type: str
    lsn_start:
      description: LSN at backup start.
      type: str
    lsn_stop:
      description: LSN at backup stop.
      type: str
    db_id:
      description: The database id (see RV(databases)) the backup belongs to.
      type: int
    repo_key:
      description: The repository holding the backup.
      type: int
    error:
      description: Whether pgBackRest found page checksum errors in the backup.
      type: bool
    annotation:
      description: The backup's annotations, if any.
      type: dict
  sample:
    - {label: 20261205-021436F, type: full, prior: null, start: 1796436876, stop: 1796436881,
       start_time: "2026-12-05T02:14:36Z", stop_time: "2026-12-05T02:14:41Z", database_size: 26842968,
       database_delta: 26842968, repo_size: 3479749, repo_delta: 3479749,
       wal_start: "000000010000000000000003", wal_stop: "000000010000000000000003",
       lsn_start: 0/3000028, lsn_stop: 0/3000100, db_id: 1, repo_key: 1, error: false, annotation: null}
archive:
  description: The archived WAL range of each database id; C(min) and C(max) are null when nothing
    is archived yet.
  returned: always
  type: list
  elements: dict
  sample: [{id: "15-1", db_id: 1, min: "000000010000000000000001", max: "000000010000000000000008"}]
latest_backup:
  description: Label of the newest backup, null when there is none.
  returned: always
  type: str
  sample: 20261205-021436F_20261205-021442I
latest_backup_stop_time:
  description: Stop time of the newest backup, ISO 8601 in UTC; null when there is none.
  returned: always
  type: str
  sample: "2026-12-05T02:14:44Z"
latest_backup_age:
  description: Seconds from the newest backup's stop to the time of the run; null when there is none.
  returned: always
  type: int
  sample: 116
now:
  description: The time of the run, epoch seconds.
  returned: always
  type: int
  sample: 1796437000
cmd:
  description: The command that ran.
  returned: always
  type: list
  elements: str
  sample: [/usr/bin/pgbackrest, --stanza=pg-test, info, --output=json]
"""

import os  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.pgha.cloud.plugins.module_utils.pgbackrest import (  # noqa: E402
    PgbackrestError,
    parse_info,
    stanza_errors,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            stanza=dict(type="str", required=True),
            config=dict(type="path"),
            executable=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    stanza = module.params["stanza"]
    problems = stanza_errors(stanza)
    if problems:
        module.fail_json(msg=problems[0])
    binary = module.params["executable"] or module.get_bin_path("pgbackrest", required=False)
    if not binary:
        module.fail_json(msg="pgbackrest is not installed (not found on PATH); install the pgbackrest "
                             "package or set executable to the program's path")
    if not os.access(binary, os.X_OK) or os.path.isdir(binary):
        module.fail_json(msg=f"executable {binary} is not an executable file; give the path of the "
                             "pgbackrest program or leave executable unset")
    cmd = [binary]
    if module.params["config"]:
        cmd.append(f"--config={module.params['config']}")
    cmd += [f"--stanza={stanza}", "info", "--output=json"]
    rc, out, err = module.run_command(cmd, check_rc=False, environ_update={"LC_ALL": "C"})
    if rc != 0:
        module.fail_json(msg=f"pgbackrest info for stanza {stanza} failed (exit {rc}): "
                             f"{(err or out).strip() or 'no message'}; check the config file and the "
                             "user the task runs as (become_user: postgres)",
                         rc=rc, stderr=err, stdout=out, cmd=cmd)
    try:
        summaries = parse_info(out)
    except PgbackrestError as exc:
        module.fail_json(msg=str(exc), stdout=out, cmd=cmd)
    if stanza not in summaries:
        module.fail_json(msg=f"pgbackrest info printed no stanza {stanza} (it printed: "
                             f"{', '.join(sorted(summaries)) or 'none'})", stdout=out, cmd=cmd)
    module.exit_json(changed=False, cmd=cmd, **summaries[stanza])


if __name__ == "__main__":
    main()

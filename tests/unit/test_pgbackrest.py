"""module_utils/pgbackrest (settings, config, info, restore targets) and the pgbackrest_info module."""

import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from module_runner import run_module

from ansible_collections.pgha.cloud.plugins.module_utils import pgbackrest as pb
from ansible_collections.pgha.cloud.plugins.modules import pgbackrest_info

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "pgbackrest"
# 116 s after the incremental backup of info_full_incr.json ended (1796436884).
NOW = 1796437000
FULL_STOP = 1796436881
SECRET = "a-secret-passphrase-0123456789"
KEY_SECRET = "s3-secret-key-value-xyz"


def fixture(name):
    return (FIXTURES / name).read_text()


# Pigsty's defaults (roles/pgsql/defaults/main.yml), with its minio entry as it ships.
def pigsty_repos():
    return {
        "local": {"path": "/pg/backup", "retention_full_type": "count", "retention_full": 2},
        "minio": {
            "type": "s3", "s3_endpoint": "sss.pigsty", "s3_region": "us-east-1", "s3_bucket": "pgsql",
            "s3_key": "pgbackrest", "s3_key_secret": "S3User.Backup", "s3_uri_style": "path",
            "path": "/pgbackrest", "storage_port": 9000, "storage_ca_file": "/etc/pki/ca.crt",
            "block": "y", "bundle": "y", "bundle_limit": "20MiB", "bundle_size": "128MiB",
            "cipher_type": "aes-256-cbc", "cipher_pass": "pgBackRest",
            "retention_full_type": "time", "retention_full": 14,
        },
    }


def s3_repo(**changes):
    repo = {
        "type": "s3", "s3_endpoint": "minio.example.net", "s3_region": "us-east-1", "s3_bucket": "pgsql",
        "s3_key": "pgbackrest", "s3_key_secret": KEY_SECRET, "s3_uri_style": "path",
        "path": "/pgbackrest/${pg_cluster}", "storage_port": 9000, "storage_ca_file": "/etc/pki/ca.crt",
        "bundle": True, "bundle_limit": "20MiB", "bundle_size": "128MiB",
        "cipher_type": "aes-256-cbc", "cipher_pass": SECRET,
        "retention_full_type": "time", "retention_full": 14,
    }
    repo.update(changes)
    return {k: v for k, v in repo.items() if v is not None}


def posix_repo(**changes):
    repo = {"path": "/pg/backup", "retention_full_type": "count", "retention_full": 2}
    repo.update(changes)
    return {k: v for k, v in repo.items() if v is not None}


def errors_of(entry, version=None, method="main"):
    return pb.repo_errors(method, {method: entry}, cluster="pg-test", version=version)


def one_error(entry, *parts, version=None):
    errors = errors_of(entry, version=version)
    assert len(errors) == 1, errors
    for part in parts:
        assert part in errors[0], errors[0]
    assert SECRET not in errors[0] and KEY_SECRET not in errors[0]
    return errors[0]


# -- repo_errors: the method and the repository map --------------------------
def test_pigsty_local_default_is_valid():
    assert pb.repo_errors("local", pigsty_repos()) == []


def test_pigsty_minio_default_is_refused_for_its_short_passphrase_and_beta_block():
    errors = pb.repo_errors("minio", pigsty_repos())
    assert len(errors) == 2, errors
    assert "pgbackrest_repo.minio.cipher_pass is shorter than 16 characters" in errors[0]
    assert "pgbackrest_repo.minio.block" in errors[1] and "2.45" in errors[1] and "2.46" in errors[1]
    # Neither of Pigsty's default secrets (S3User.Backup, pgBackRest) is shown.
    assert not any("S3User.Backup" in e or "'pgBackRest'" in e for e in errors)
    # Block incremental is stable from 2.46 (Debian 13 ships a later release).
    assert pb.repo_errors("minio", pigsty_repos(), version="2.55") == [errors[0]]


@pytest.mark.parametrize("method", [None, "", 3, ["local"]])
def test_method_must_be_a_name(method):
    errors = pb.repo_errors(method, pigsty_repos())
    assert len(errors) == 1 and errors[0].startswith("pgbackrest_method ")
    assert "key of pgbackrest_repo" in errors[0]


def test_method_must_name_an_entry_and_the_message_lists_them():
    errors = pb.repo_errors("s3", pigsty_repos())
    assert errors == ["pgbackrest_method 's3' names no entry of pgbackrest_repo (it has: local, minio); "
                      "set pgbackrest_method to one of them or add the entry"]


@pytest.mark.parametrize("repos", [None, {}, [], "local"])
def test_repo_map_must_be_a_mapping(repos):
    errors = pb.repo_errors("local", repos)
    assert len(errors) == 1 and errors[0].startswith("pgbackrest_repo is ")


def test_entry_must_be_a_mapping():
    assert pb.repo_errors("local", {"local": "/pg/backup"}) == [
        "pgbackrest_repo.local is str, not a mapping of pgBackRest repository options"]


def test_unknown_keys_are_refused_with_the_known_ones():
    error = one_error(posix_repo(compress="zst", hardlink=True), "unknown keys: compress, hardlink",
                      "the known keys are type, path, s3_endpoint")
    assert "retention_full_type" in error


def test_an_unknown_secret_like_key_shows_its_name_only():
    error = one_error(posix_repo(s3_secret=SECRET), "unknown keys: s3_secret")
    assert SECRET not in error


# -- repository type ----------------------------------------------------------
def test_type_defaults_to_posix_and_both_supported_types_pass():
    assert errors_of(posix_repo()) == []
    assert errors_of(posix_repo(type="posix")) == []
    assert errors_of(s3_repo()) == []


@pytest.mark.parametrize("kind,words", [("azure", "Azure"), ("gcs", "Google Cloud Storage"),
                                        ("sftp", "SFTP"), ("cifs", "use type posix")])
def test_types_pgbackrest_knows_but_we_do_not_configure(kind, words):
    one_error(posix_repo(type=kind), f"pgbackrest_repo.main.type '{kind}'", words, "use one of posix, s3")


@pytest.mark.parametrize("kind", ["minio", "S3", "nfs", ["s3"]])
def test_unknown_types(kind):
    one_error(posix_repo(type=kind), "pgbackrest_repo.main.type", "use one of posix, s3")


def test_posix_repo_refuses_s3_settings():
    one_error(posix_repo(s3_bucket="pgsql", storage_port=9000), "posix repository but sets s3_bucket, "
              "storage_port", "set type: s3 or remove them")


@pytest.mark.parametrize("key", ["s3_bucket", "s3_region", "s3_endpoint"])
def test_s3_needs_bucket_region_endpoint(key):
    one_error(s3_repo(**{key: None}), f"pgbackrest_repo.main.{key} is missing",
              "needs s3_bucket, s3_region and s3_endpoint")


@pytest.mark.parametrize("key", ["s3_key", "s3_key_secret"])
def test_s3_needs_keys_for_shared_key_type(key):
    one_error(s3_repo(**{key: None}), f"pgbackrest_repo.main.{key} is missing", "s3_key_type: auto")


def test_s3_auto_key_type_takes_no_keys():
    assert errors_of(s3_repo(s3_key=None, s3_key_secret=None, s3_key_type="auto")) == []
    one_error(s3_repo(s3_key=None, s3_key_type="auto"), "s3_key_secret is set with s3_key_type auto")
    one_error(s3_repo(s3_key_type="web-id", s3_key=None, s3_key_secret=None), "s3_key_type 'web-id'",
              "shared, auto")


@pytest.mark.parametrize("key,value,words", [
    ("s3_endpoint", "https://minio:9000", "not a host name or address"),
    ("s3_endpoint", "minio.example.net/", "not a host name or address"),
    ("s3_endpoint", "[fd00::1]", None),
    ("s3_endpoint", "10.0.0.5", None),
    ("storage_host", "minio-1.example.net", None),
    ("s3_bucket", "Bad_Bucket", "not an S3 bucket name"),
    ("s3_bucket", "ab", "not an S3 bucket name"),
    ("s3_bucket", "a..b", "not an S3 bucket name"),
    ("s3_region", "US East", "not an S3 region"),
    ("s3_uri_style", "virtual", "not one of host, path"),
    ("s3_uri_style", "host", None),
    ("storage_port", 0, "from 1 to 65535"),
    ("storage_port", 70000, "from 1 to 65535"),
    ("storage_port", "9000", None),
    ("storage_port", True, "from 1 to 65535"),
    ("storage_verify_tls", "maybe", "not a boolean"),
    ("storage_verify_tls", False, None),
    ("storage_ca_file", "ca.crt", "not an absolute path"),
    ("storage_ca_path", "/etc/ssl/certs", None),
    ("bundle_limit", "20 MiB", "not a size"),
    ("bundle_limit", "twenty", "not a size"),
    ("bundle_limit", 2097152, None),
    ("bundle_size", "1GB", None),
    ("bundle", "yes", None),
])
def test_s3_option_values(key, value, words):
    if words is None:
        assert errors_of(s3_repo(**{key: value})) == []
    else:
        one_error(s3_repo(**{key: value}), f"pgbackrest_repo.main.{key} {value!r}", words)


# -- encryption ---------------------------------------------------------------
def test_cipher_type_must_be_none_or_aes():
    one_error(s3_repo(cipher_type="aes-128-cbc"), "cipher_type 'aes-128-cbc' is not one of none, aes-256-cbc")


def test_encryption_needs_a_passphrase():
    one_error(s3_repo(cipher_pass=None), "pgbackrest_repo.main.cipher_pass is missing", "16 characters")


def test_short_passphrase_is_refused_without_showing_it():
    error = one_error(s3_repo(cipher_pass="short-pass"), "cipher_pass is shorter than 16 characters")
    assert "short-pass" not in error


def test_passphrase_without_encryption_is_refused():
    one_error(posix_repo(cipher_type="none", cipher_pass=SECRET), "cipher_type is none",
              "set cipher_type: aes-256-cbc or remove cipher_pass")
    one_error(posix_repo(cipher_pass=SECRET), "cipher_type is none")


def test_encrypted_posix_repo_is_valid():
    assert errors_of(posix_repo(cipher_type="aes-256-cbc", cipher_pass=SECRET)) == []


@pytest.mark.parametrize("key", ["cipher_pass", "s3_key_secret"])
@pytest.mark.parametrize("bad", [" leading-space-passphrase", "has#hash-in-the-middle", "quote'in-it-0123456",
                                 'double"quote-in-it-0123', "new\nline-in-the-passphrase",
                                 "tab\tin-the-pass-1234", "bell\x07in-the-passphrase-1"])
def test_secrets_that_cannot_go_in_the_file_are_refused_without_their_value(key, bad):
    errors = errors_of(s3_repo(**{key: bad}))
    assert errors and all(bad not in e and bad.strip() not in e for e in errors), errors
    assert any(f"pgbackrest_repo.main.{key} has whitespace" in e for e in errors), errors


@pytest.mark.parametrize("key", ["cipher_pass", "s3_key_secret"])
def test_secret_of_the_wrong_type_is_refused_without_its_value(key):
    errors = errors_of(s3_repo(**{key: ["x-secret-in-a-list"]}))
    assert any(f"pgbackrest_repo.main.{key}: expected a string, got list; quote" in e for e in errors)
    assert not any("x-secret-in-a-list" in e for e in errors)


# -- retention ----------------------------------------------------------------
@pytest.mark.parametrize("value", [0, -1, "0", "two", True, 1.5, None, 10000000])
def test_retention_full_must_keep_a_backup(value):
    entry = posix_repo()
    entry["retention_full"] = value
    one_error(entry, f"pgbackrest_repo.main.retention_full {value!r} is not a whole number from 1 to 9999999")


def test_retention_full_is_required():
    one_error(posix_repo(retention_full=None), "pgbackrest_repo.main.retention_full is missing",
              "never expires")


def test_retention_full_type_is_count_or_time():
    assert errors_of(posix_repo(retention_full_type="time", retention_full="7")) == []
    one_error(posix_repo(retention_full_type="days"), "retention_full_type 'days' is not one of count, time")


def test_other_retentions():
    assert errors_of(posix_repo(retention_diff=3, retention_archive=2, retention_archive_type="diff")) == []
    one_error(posix_repo(retention_diff=0), "retention_diff 0")
    one_error(posix_repo(retention_archive_type="wal"),
              "retention_archive_type 'wal' is not one of full, diff, incr")


# -- paths and config-file safety -------------------------------------------
@pytest.mark.parametrize("value,words", [
    ("pg/backup", "is not an absolute path"),
    ("/pg/my backup", "has whitespace"),
    ("/pg/backup#1", "has whitespace, '#'"),
    ("/pg/'backup'", "a quote"),
    ("/pg/backup\n[global]", "a control character"),
    ("/pg/back\x00up", "a control character"),
    ("", "is empty"),
    (5, "is not an absolute path"),
    (None, "expected a string, got NoneType"),
])
def test_bad_paths(value, words):
    entry = posix_repo()
    entry["path"] = value
    one_error(entry, "pgbackrest_repo.main.path", words)


def test_s3_key_is_checked_like_any_text():
    one_error(s3_repo(s3_key="pg backrest"), "pgbackrest_repo.main.s3_key 'pg backrest' has whitespace")


def test_cluster_token_is_replaced_before_the_check():
    assert errors_of(posix_repo(path="/pg/backup/${pg_cluster}")) == []
    one_error(posix_repo(path="pg/${pg_cluster}"), "not an absolute path")


# -- block and bundle -------------------------------------------------------
def test_block_needs_bundle_and_246():
    assert errors_of(s3_repo(block=True), version="2.46") == []
    one_error(s3_repo(block=True, bundle=False, bundle_limit=None, bundle_size=None),
              "block is on but bundle is not", version="2.55")
    one_error(s3_repo(block=True), "beta testing only in pgBackRest 2.45", "set block: false")
    one_error(s3_repo(block=True), "beta testing only in pgBackRest 2.45", version="2.45")


def test_block_with_the_release_not_known_yet_is_left_to_the_role():
    # The inventory check runs before any host is reached.
    assert errors_of(s3_repo(block=True), version=pb.ANY_VERSION) == []
    one_error(s3_repo(block=True, bundle=False, bundle_limit=None, bundle_size=None),
              "block is on but bundle is not", version=pb.ANY_VERSION)
    assert errors_of(s3_repo(block="n", bundle=False, bundle_limit=None, bundle_size=None)) == []


def test_block_with_an_unreadable_version():
    one_error(s3_repo(block=True), "pgbackrest version 'latest' is not a version", version="latest")


@pytest.mark.parametrize("key", ["bundle_limit", "bundle_size"])
def test_bundle_sizes_need_bundle(key):
    entry = s3_repo(bundle=None)
    entry.pop("bundle_limit" if key == "bundle_size" else "bundle_size")
    one_error(entry, f"{key} is set but bundle is not on")


def test_several_problems_are_all_reported():
    errors = errors_of(s3_repo(s3_bucket=None, cipher_pass="short", retention_full=0, path="rel"))
    assert len(errors) == 4, errors


# -- conf_sections / render_conf ----------------------------------------------
POSIX_TEXT = """\
# Managed by pgha.cloud; changes are overwritten.

[global]
repo1-type=posix
repo1-path=/pg/backup
repo1-retention-full-type=count
repo1-retention-full=2
log-path=/pg/log/pgbackrest

[pg-test]
pg1-path=/pg/data
pg1-port=5432
pg1-socket-path=/var/run/postgresql
"""

S3_TEXT = f"""\
# Managed by pgha.cloud; changes are overwritten.

[global]
repo1-type=s3
repo1-s3-endpoint=minio.example.net
repo1-s3-region=us-east-1
repo1-s3-bucket=pgsql
repo1-s3-key=pgbackrest
repo1-s3-key-secret={KEY_SECRET}
repo1-s3-uri-style=path
repo1-path=/pgbackrest/pg-meta
repo1-storage-port=9000
repo1-storage-ca-file=/etc/pki/ca.crt
repo1-bundle=y
repo1-bundle-limit=20MiB
repo1-bundle-size=128MiB
repo1-cipher-type=aes-256-cbc
repo1-cipher-pass={SECRET}
repo1-retention-full-type=time
repo1-retention-full=14
log-path=/var/log/pgbackrest

[pg-meta]
pg1-path=/var/lib/postgresql/17/main
pg1-port=5433
pg1-socket-path=/run/postgresql
"""


def test_posix_config_text():
    conf = pb.conf_sections("pg-test", "local", pigsty_repos(), "/pg/data")
    assert conf["secrets"] == []
    assert pb.render_conf(conf) == POSIX_TEXT


def test_s3_config_text_and_its_secrets():
    conf = pb.conf_sections("pg-meta", "minio", {"minio": s3_repo()}, "/var/lib/postgresql/17/main",
                            pg_port="5433", socket_path="/run/postgresql", log_dir="/var/log/pgbackrest")
    assert conf["secrets"] == ["repo1-s3-key-secret", "repo1-cipher-pass"]
    assert pb.render_conf(conf) == S3_TEXT
    assert dict(conf["sections"])["pg-meta"] == [
        ("pg1-path", "/var/lib/postgresql/17/main"), ("pg1-port", "5433"),
        ("pg1-socket-path", "/run/postgresql")]


def test_render_without_header():
    conf = pb.conf_sections("pg-test", "local", pigsty_repos(), "/pg/data")
    assert pb.render_conf(conf, header=None).startswith("[global]\nrepo1-type=posix\n")


def test_flags_are_written_as_y_and_n():
    conf = pb.conf_sections("pg-test", "main", {"main": s3_repo(storage_verify_tls=False, block="yes")},
                            "/pg/data", version="2.55")
    options = dict(dict(conf["sections"])["global"])
    assert options["repo1-storage-verify-tls"] == "n" and options["repo1-block"] == "y"


@pytest.mark.parametrize("kwargs,words", [
    ({"stanza": "pg test"}, "stanza 'pg test' is not a pgBackRest stanza name"),
    ({"stanza": "-pg"}, "stanza '-pg'"),
    ({"pg_data": "data"}, "pg_data 'data' is not an absolute path"),
    ({"log_dir": "/pg/log dir"}, "pgbackrest_log_dir '/pg/log dir' has whitespace"),
    ({"socket_path": "run"}, "pg_socket_path 'run' is not an absolute path"),
    ({"pg_port": 0}, "pg_port 0 is not a port number"),
    ({"pg_port": "5432x"}, "pg_port '5432x'"),
    ({"method": "nope"}, "pgbackrest_method 'nope' names no entry"),
])
def test_conf_sections_refuses_bad_settings(kwargs, words):
    args = {"stanza": "pg-test", "method": "local", "repos": pigsty_repos(), "pg_data": "/pg/data"}
    args.update(kwargs)
    with pytest.raises(pb.PgbackrestError) as exc:
        pb.conf_sections(**args)
    assert words in str(exc.value)


def test_conf_sections_never_shows_a_secret():
    with pytest.raises(pb.PgbackrestError) as exc:
        pb.conf_sections("pg-test", "main", {"main": s3_repo(cipher_pass="tiny-secret")}, "/pg/data")
    assert "tiny-secret" not in str(exc.value) and KEY_SECRET not in str(exc.value)


# -- archive / restore commands -----------------------------------------------
def test_archive_and_restore_commands():
    assert pb.archive_command("pg-test") == "pgbackrest --stanza=pg-test archive-push %p"
    assert pb.archive_command("pg-test", create_stanza=True) == (
        "pgbackrest --stanza=pg-test archive-push %p || (pgbackrest --stanza=pg-test stanza-create && "
        "pgbackrest --stanza=pg-test archive-push %p)")
    assert pb.restore_command("pg-test") == 'pgbackrest --stanza=pg-test archive-get %f "%p"'


@pytest.mark.parametrize("stanza", ["", "pg test", "pg;rm", None])
def test_commands_refuse_a_bad_stanza(stanza):
    for build in (pb.archive_command, pb.restore_command):
        with pytest.raises(pb.PgbackrestError, match="is not a pgBackRest stanza name"):
            build(stanza)


# -- parse_info on real pgBackRest 2.45 output --------------------------------
def test_parse_full_and_incremental():
    info = pb.parse_info(fixture("info_full_incr.json"), now=NOW)
    assert list(info) == ["pg-test"]
    s = info["pg-test"]
    assert (s["status_code"], s["status_message"]) == (0, "ok")
    assert (s["cipher"], s["backup_lock_held"]) == ("none", False)
    assert s["databases"] == [{"id": 1, "version": "15", "system_id": 7715637592504295450}]
    assert s["repos"] == [{"key": 1, "cipher": "none", "status_code": 0, "status_message": "ok"}]
    assert s["archive"] == [{"id": "15-1", "db_id": 1, "min": "000000010000000000000001",
                             "max": "000000010000000000000008"}]
    full, incr = s["backups"]
    assert full == {
        "label": "20261205-021436F", "type": "full", "prior": None,
        "start": 1796436876, "stop": FULL_STOP,
        "start_time": "2026-12-05T02:14:36Z", "stop_time": "2026-12-05T02:14:41Z",
        "database_size": 26842968, "database_delta": 26842968, "repo_size": 3479749, "repo_delta": 3479749,
        "wal_start": "000000010000000000000003", "wal_stop": "000000010000000000000003",
        "lsn_start": "0/3000028", "lsn_stop": "0/3000100", "db_id": 1, "repo_key": 1,
        "error": False, "annotation": None,
    }
    assert (incr["type"], incr["prior"], incr["repo_delta"], incr["repo_size"]) == \
        ("incr", "20261205-021436F", 676842, 3685366)
    assert (incr["wal_start"], incr["lsn_stop"]) == ("000000010000000000000006", "0/6000138")
    assert s["latest_backup"] == "20261205-021436F_20261205-021442I"
    assert s["latest_backup_stop_time"] == "2026-12-05T02:14:44Z"
    assert s["latest_backup_age"] == 116 and s["now"] == NOW


def test_parse_now_as_a_datetime():
    now = datetime.fromtimestamp(NOW, timezone.utc) + timedelta(hours=1)
    summary = pb.parse_info(fixture("info_full_incr.json"), now=now)["pg-test"]
    assert summary["latest_backup_age"] == 116 + 3600
    with pytest.raises(pb.PgbackrestError, match="naive datetime"):
        pb.parse_info(fixture("info_full_incr.json"), now=datetime(2026, 12, 5))
    with pytest.raises(pb.PgbackrestError, match="neither epoch seconds nor a datetime"):
        pb.parse_info(fixture("info_full_incr.json"), now="today")


def test_parse_default_now_is_the_current_time():
    s = pb.parse_info(fixture("info_full_incr.json"))["pg-test"]
    assert s["latest_backup_age"] == s["now"] - 1796436884 and s["now"] >= NOW


def test_parse_stanza_without_backup():
    s = pb.parse_info(fixture("info_no_backup.json"), now=NOW)["pg-test"]
    assert (s["status_code"], s["status_message"]) == (2, "no valid backups")
    assert s["backups"] == [] and s["latest_backup"] is None and s["latest_backup_age"] is None
    assert s["archive"] == [{"id": "15-1", "db_id": 1, "min": None, "max": None}]


def test_parse_missing_stanza():
    s = pb.parse_info(fixture("info_missing_stanza.json"), now=NOW)["pg-test"]
    assert (s["status_code"], s["status_message"], s["databases"], s["archive"]) == \
        (1, "missing stanza path", [], [])


def test_parse_unreadable_repository():
    s = pb.parse_info(fixture("info_repo_unreadable.json"), now=NOW)["pg-test"]
    assert (s["status_code"], s["status_message"]) == (99, "other")
    assert s["repos"][0]["status_code"] == 99 and "Permission denied" in s["repos"][0]["status_message"]


def _broken(change):
    data = json.loads(fixture("info_full_incr.json"))
    change(data)
    return json.dumps(data)


@pytest.mark.parametrize("text,words", [
    ("", "is not JSON"),
    ("ERROR: [055]: unable to open", "is not JSON"),
    ("{}", "is a dict, not the list of stanzas"),
    ("[1]", "stanza[0] has no 'name'"),
    (_broken(lambda d: d[0].pop("status")), "stanza pg-test has no 'status'"),
    (_broken(lambda d: d[0].update(backup={})), "stanza pg-test.backup is dict, expected list"),
    (_broken(lambda d: d[0]["backup"][1].pop("timestamp")), "stanza pg-test backup[1] has no 'timestamp'"),
    (_broken(lambda d: d[0]["backup"][0]["timestamp"].update(stop="x")),
     "stanza pg-test backup[0].timestamp.stop is str, expected int"),
    (_broken(lambda d: d[0]["backup"][0]["info"].update(size=True)),
     "stanza pg-test backup[0].info.size is bool, expected int"),
    (_broken(lambda d: d[0]["backup"][0].update(type="snapshot")),
     "stanza pg-test backup[0].type 'snapshot' is not full, diff or incr"),
    (_broken(lambda d: d[0]["archive"][0].pop("database")), "stanza pg-test archive[0] has no 'database'"),
    (_broken(lambda d: d[0]["db"][0].pop("id")), "stanza pg-test db[0] has no 'id'"),
    (_broken(lambda d: d[0]["status"].update(code="0")), "stanza pg-test status.code is str, expected int"),
])
def test_parse_malformed_output_names_what_is_wrong(text, words):
    with pytest.raises(pb.PgbackrestError) as exc:
        pb.parse_info(text, now=NOW)
    assert words in str(exc.value)


# -- restore targets -----------------------------------------------------------
@pytest.fixture
def summary():
    return pb.parse_info(fixture("info_full_incr.json"), now=NOW)["pg-test"]


@pytest.mark.parametrize("target", [
    {"type": "latest"},
    {"type": "immediate", "value": None},
    {"type": "name", "value": "before-incr"},
    {"type": "time", "value": "2026-12-05 02:14:41+00"},
    {"type": "time", "value": "2026-12-05 02:14:41+00:00"},
    {"type": "time", "value": "2026-12-05T02:14:42Z"},
    {"type": "time", "value": "2026-12-05 02:15:00.123456 UTC"},
    {"type": "time", "value": "2026-12-05 03:16:00+0100"},
    {"type": "time", "value": "2026-12-05 02:16:40Z"},
    {"type": "lsn", "value": "0/3000100"},
    {"type": "lsn", "value": "0/6000138"},
    {"type": "lsn", "value": "0/9000000"},
])
def test_targets_inside_the_range(summary, target):
    assert pb.restore_target_errors(summary, target) == []


@pytest.mark.parametrize("value", ["2026-12-05 02:14:40Z", "2026-12-05 03:14:41+02", "2026-12-05 02:16:41Z",
                                   "2027-01-01 00:00:00+00"])
def test_times_outside_the_range_name_the_range(summary, value):
    errors = pb.restore_target_errors(summary, {"type": "time", "value": value})
    assert errors == [f"restore target time {value} is outside what stanza pg-test can reach: from "
                      "2026-12-05T02:14:41Z (the oldest backup, 20261205-021436F, ended) to "
                      "2026-12-05T02:16:40Z (now)"]


def test_time_range_uses_the_given_now(summary):
    later = NOW + 3600
    target = {"type": "time", "value": "2026-12-05 03:00:00Z"}
    assert pb.restore_target_errors(summary, target, now=later) == []


@pytest.mark.parametrize("value", ["0/30000FF", "0/0", "0/9000001", "1/0"])
def test_lsns_outside_the_range_name_the_range(summary, value):
    errors = pb.restore_target_errors(summary, {"type": "lsn", "value": value})
    assert errors == [f"restore target LSN {value} is outside what stanza pg-test can reach: from 0/3000100 "
                      "(the oldest backup's stop LSN) to 0/9000000 (the end of WAL segment "
                      "000000010000000000000008, the newest archived)"]


@pytest.mark.parametrize("value", ["2026-12-05 02:15:00", "05/12/2026 02:15", "2026-12-05", "yesterday",
                                   1796436900, "2026-12-05 02:15:00 CET", None])
def test_unparseable_times_name_the_formats(summary, value):
    errors = pb.restore_target_errors(summary, {"type": "time", "value": value})
    assert len(errors) == 1 and "is not a time with a zone; use one of YYYY-MM-DD HH:MM:SS+HH" in errors[0]
    assert "YYYY-MM-DDTHH:MM:SSZ" in errors[0]


def test_impossible_date_is_refused(summary):
    errors = pb.restore_target_errors(summary, {"type": "time", "value": "2026-02-30 00:00:00Z"})
    assert len(errors) == 1 and "is not a valid date and time" in errors[0]


@pytest.mark.parametrize("value", ["0/XYZ", "03000100", "0/3000100/1", "123456789/0", 3000100, None])
def test_unparseable_lsns_name_the_form(summary, value):
    errors = pb.restore_target_errors(summary, {"type": "lsn", "value": value})
    assert len(errors) == 1 and "is not in PostgreSQL's form XXXXXXXX/XXXXXXXX" in errors[0]


@pytest.mark.parametrize("value", ["", "x" * 64, "it's", 'say "hi"', "back\\slash", "new\nline", 5])
def test_bad_restore_point_names(summary, value):
    errors = pb.restore_target_errors(summary, {"type": "name", "value": value})
    assert len(errors) == 1 and "is not 1 to 63 characters" in errors[0]


def test_restore_point_name_of_63_characters(summary):
    assert pb.restore_target_errors(summary, {"type": "name", "value": "x" * 63}) == []


@pytest.mark.parametrize("target,words", [
    ({"type": "immediate", "value": "now"}, "restore target immediate takes no value"),
    ({"type": "xid", "value": "1234"},
     "restore target type 'xid' is not one of time, lsn, name, immediate, latest"),
    ({"value": "x"}, "restore target type None"),
    ("latest", "is not a mapping with type and value"),
    ({"type": "latest", "inclusive": False}, "restore target has unknown keys: inclusive"),
])
def test_bad_targets(summary, target, words):
    errors = pb.restore_target_errors(summary, target)
    assert len(errors) == 1 and words in errors[0], errors


@pytest.mark.parametrize("name,status", [("info_no_backup.json", "2: no valid backups"),
                                         ("info_missing_stanza.json", "1: missing stanza path"),
                                         ("info_repo_unreadable.json", "99: other")])
def test_a_stanza_without_backups_refuses_every_target(name, status):
    s = pb.parse_info(fixture(name), now=NOW)["pg-test"]
    for target in ({"type": "latest"}, {"type": "time", "value": "2026-12-05 02:15:00Z"}):
        assert pb.restore_target_errors(s, target) == [
            f"stanza pg-test has no backup to restore from (pgBackRest status {status}); take a backup first"]


def test_lsn_target_needs_archived_wal(summary):
    summary = copy.deepcopy(summary)
    summary["archive"][0]["max"] = None
    errors = pb.restore_target_errors(summary, {"type": "lsn", "value": "0/4000000"})
    assert errors == ["stanza pg-test has no archived WAL for its current database; check archive_command "
                      "(pgbackrest check)"]


def test_wal_segment_ranges():
    assert pb.wal_lsn_range("000000010000000000000003") == (0x3000000, 0x4000000)
    assert pb.wal_lsn_range("0000000200000001000000FF") == (0x1FF000000, 0x200000000)
    assert pb.wal_lsn_range("000000010000000000000003", 64 * 1024 * 1024) == (0xC000000, 0x10000000)
    assert pb.format_lsn(pb.parse_lsn("1/A0")) == "1/A0"
    with pytest.raises(pb.PgbackrestError, match="24-hexadecimal-digit"):
        pb.wal_lsn_range("00000001000000000000003")


# -- the pgbackrest_info module with a fake pgbackrest on PATH ---------------
def fake_pgbackrest(tmp_path, monkeypatch, stdout_file=None, stderr_file=None, rc=0, name="pgbackrest"):
    """A pgbackrest script that prints a fixture and writes its arguments to args.txt; PATH finds it first."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    script = bindir / name
    lines = ["#!/bin/sh", f'printf "%s\\n" "$@" > "{tmp_path}/args.txt"']
    if stdout_file:
        lines.append(f'cat "{FIXTURES / stdout_file}"')
    if stderr_file:
        lines.append(f'cat "{FIXTURES / stderr_file}" >&2')
    lines.append(f"exit {rc}")
    script.write_text("\n".join(lines) + "\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    return script


def args_seen(tmp_path):
    return (tmp_path / "args.txt").read_text().splitlines()


@pytest.mark.parametrize("check", [False, True])
def test_module_returns_the_summary(tmp_path, monkeypatch, check):
    script = fake_pgbackrest(tmp_path, monkeypatch, "info_full_incr.json")
    res = run_module(pgbackrest_info, {"stanza": "pg-test"}, check=check)
    assert res.get("failed") is not True, res
    assert res["changed"] is False
    assert args_seen(tmp_path) == ["--stanza=pg-test", "info", "--output=json"]
    assert res["cmd"] == [str(script), "--stanza=pg-test", "info", "--output=json"]
    assert (res["stanza"], res["status_code"], res["status_message"]) == ("pg-test", 0, "ok")
    assert [b["label"] for b in res["backups"]] == ["20261205-021436F", "20261205-021436F_20261205-021442I"]
    assert res["latest_backup"] == "20261205-021436F_20261205-021442I"
    assert res["latest_backup_age"] == res["now"] - 1796436884
    assert res["archive"][0]["max"] == "000000010000000000000008"


def test_module_passes_the_config_file(tmp_path, monkeypatch):
    fake_pgbackrest(tmp_path, monkeypatch, "info_full_incr.json")
    res = run_module(pgbackrest_info, {"stanza": "pg-test", "config": "/etc/pgbackrest/alt.conf"})
    assert res.get("failed") is not True, res
    assert args_seen(tmp_path) == ["--config=/etc/pgbackrest/alt.conf", "--stanza=pg-test", "info",
                                   "--output=json"]


def test_module_uses_the_given_executable(tmp_path, monkeypatch):
    script = fake_pgbackrest(tmp_path, monkeypatch, "info_no_backup.json", name="pgbackrest-2.45")
    res = run_module(pgbackrest_info, {"stanza": "pg-test", "executable": str(script)})
    assert res.get("failed") is not True, res
    assert (res["status_code"], res["backups"], res["latest_backup_age"]) == (2, [], None)


def test_module_reports_a_missing_stanza_without_failing(tmp_path, monkeypatch):
    fake_pgbackrest(tmp_path, monkeypatch, "info_missing_stanza.json")
    res = run_module(pgbackrest_info, {"stanza": "pg-test"})
    assert res.get("failed") is not True, res
    assert (res["status_code"], res["status_message"]) == (1, "missing stanza path")


@pytest.mark.parametrize("stderr_file,rc,words", [
    ("error_bad_option.stderr", 32, "ERROR: [032]: 'bogus' is not allowed for 'repo1-type' option"),
    ("error_missing_config.stderr", 55, "ERROR: [055]: unable to open missing file"),
])
def test_module_fails_with_pgbackrest_error(tmp_path, monkeypatch, stderr_file, rc, words):
    fake_pgbackrest(tmp_path, monkeypatch, stderr_file=stderr_file, rc=rc)
    res = run_module(pgbackrest_info, {"stanza": "pg-test"})
    assert res["failed"] is True and res["rc"] == rc
    assert res["msg"].startswith(f"pgbackrest info for stanza pg-test failed (exit {rc}): ")
    assert words in res["msg"] and "become_user: postgres" in res["msg"]


def test_module_fails_on_output_that_is_not_info_json(tmp_path, monkeypatch):
    fake_pgbackrest(tmp_path, monkeypatch, "error_bad_option.stderr")
    res = run_module(pgbackrest_info, {"stanza": "pg-test"})
    assert res["failed"] is True and "pgbackrest info output is not JSON" in res["msg"]


def test_module_fails_when_the_stanza_is_not_in_the_output(tmp_path, monkeypatch):
    fake_pgbackrest(tmp_path, monkeypatch, "info_full_incr.json")
    res = run_module(pgbackrest_info, {"stanza": "pg-other"})
    assert res["failed"] is True
    assert res["msg"] == "pgbackrest info printed no stanza pg-other (it printed: pg-test)"


def test_module_refuses_a_bad_stanza_name(tmp_path, monkeypatch):
    fake_pgbackrest(tmp_path, monkeypatch, "info_full_incr.json")
    res = run_module(pgbackrest_info, {"stanza": "pg test; rm -rf /"})
    assert res["failed"] is True and "is not a pgBackRest stanza name" in res["msg"]
    assert not (tmp_path / "args.txt").exists()


def test_module_without_pgbackrest(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(pgbackrest_info.AnsibleModule, "get_bin_path",
                        lambda self, name, required=False: None)
    res = run_module(pgbackrest_info, {"stanza": "pg-test"})
    assert res["failed"] is True and "pgbackrest is not installed" in res["msg"]


def test_module_refuses_an_executable_that_is_not_one(tmp_path):
    res = run_module(pgbackrest_info, {"stanza": "pg-test", "executable": str(tmp_path)})
    assert res["failed"] is True and "is not an executable file" in res["msg"]


def test_module_requires_the_stanza():
    res = run_module(pgbackrest_info, {})
    assert res["failed"] is True and "stanza" in res["msg"]


# -- restore options and the restore.yml filters ------------------------------
@pytest.mark.parametrize("target, expected", [
    ({"type": "latest"}, ["--type=default"]),
    ({"type": "immediate"}, ["--type=immediate", "--target-action=promote"]),
    ({"type": "name", "value": "before-delete"},
     ["--type=name", "--target=before-delete", "--target-action=promote"]),
    ({"type": "time", "value": "2026-12-05 02:15:00+00"},
     ["--type=time", "--target=2026-12-05 02:15:00+00", "--target-action=promote"]),
    ({"type": "lsn", "value": "0/5000028"}, ["--type=lsn", "--target=0/5000028", "--target-action=promote"]),
])
def test_restore_options(target, expected):
    assert pb.restore_options(target) == expected


def test_restore_options_set_and_refusals():
    assert pb.restore_options({"type": "latest"}, "20261205-021436F")[-1] == "--set=20261205-021436F"
    assert pb.restore_options({"type": "latest"}, "20261205-021436F_20261205-021442I")[-1] == \
        "--set=20261205-021436F_20261205-021442I"
    with pytest.raises(pb.PgbackrestError, match="is not a pgBackRest backup label"):
        pb.restore_options({"type": "latest"}, "latest --delta")
    with pytest.raises(pb.PgbackrestError, match="is not one of"):
        pb.restore_options({"type": "xid", "value": "1"})


def test_target_filters_through_the_filter_plugin(summary):
    from ansible.errors import AnsibleFilterError

    from ansible_collections.pgha.cloud.plugins.filter.pgha import FilterModule
    filters = FilterModule().filters()
    errors = filters["pgbackrest_target_errors"]
    # The module's result carries more keys than the summary (changed, cmd): they are ignored.
    info = dict(summary, changed=False, cmd=["pgbackrest"])
    assert errors(info, "name", "before-delete") == []
    assert errors(info, "latest") == []
    assert errors(info, "latest", None, "20261205-021436F") == []
    missing = errors(info, "latest", None, "20261101-000000F")
    assert len(missing) == 1 and "20261101-000000F is not in stanza pg-test" in missing[0]
    assert "20261205-021436F" in missing[0]
    early = errors(info, "time", "2026-01-01 00:00:00+00")
    assert len(early) == 1 and "outside what stanza pg-test can reach" in early[0]
    assert "takes no value" in errors(info, "latest", "x")[0]
    options = filters["pgbackrest_restore_options"]
    assert options("name", "p1") == ["--type=name", "--target=p1", "--target-action=promote"]
    with pytest.raises(AnsibleFilterError, match="not a pgBackRest backup label"):
        options("latest", None, "bad label")


# -- scheduled backups --------------------------------------------------------
def test_schedule_of_the_role_and_partial_schedules_are_valid():
    weekly = [{"type": "full", "on_calendar": "Sun *-*-* 01:00:00"},
              {"type": "diff", "on_calendar": "Mon..Sat *-*-* 01:00:00"}]
    assert pb.schedule_errors(weekly) == []
    assert pb.schedule_errors(weekly[1:]) == []  # pgBackRest makes a diff without a full a full one
    assert pb.schedule_errors([]) == []
    assert pb.schedule_errors(({"type": "incr", "on_calendar": "hourly"},)) == []


def test_schedule_messages_name_the_item_and_the_fix():
    errors = pb.schedule_errors([{"type": "full", "on_calendar": "daily"}, {"type": "snapshot"},
                                 {"type": "full", "on_calendar": "weekly\n"}])
    assert errors == [
        "pgbackrest_schedule item 2: type is 'snapshot'; use one of full, diff, incr",
        "pgbackrest_schedule item 2: on_calendar is missing; give a systemd calendar expression such as "
        "'Sun *-*-* 01:00:00' (see man systemd.time)",
        "pgbackrest_schedule item 3: on_calendar 'weekly\\n' has a line break, '#', a quote or a backslash, "
        "which a systemd timer unit cannot hold; write the expression alone, such as 'Sun *-*-* 01:00:00'",
        "pgbackrest_schedule has type full in items 1, 3; keep one item per type and put all its times in "
        "one calendar expression, such as 'Mon,Thu *-*-* 01:00:00'",
    ]
    assert pb.schedule_errors(None, var="x")[0].startswith("x is NoneType, not a list")


# -- clones ------------------------------------------------------------------
def test_a_clone_from_a_stanza_of_the_same_repository_and_version_passes():
    source = pb.parse_info(fixture("info_full_incr.json"), now=NOW)["pg-test"]
    assert pb.clone_errors(source, "pg-copy", "15") == []
    assert pb.clone_errors(source, "pg-copy", 15) == []


def test_a_restore_in_place_is_no_clone():
    own = pb.parse_info(fixture("info_full_incr.json"), now=NOW)["pg-test"]
    assert pb.clone_errors(own, "pg-test", "17") == []


def test_a_stanza_the_repository_does_not_hold_is_refused_with_the_fix():
    missing = pb.parse_info(fixture("info_missing_stanza.json"), now=NOW)["pg-test"]
    [message] = pb.clone_errors(missing, "pg-copy", "15")
    assert "holds no stanza pg-test (missing stanza path)" in message
    assert "same pgbackrest_repo entry" in message


def test_another_major_version_is_refused():
    source = pb.parse_info(fixture("info_full_incr.json"), now=NOW)["pg-test"]
    [message] = pb.clone_errors(source, "pg-copy", "17")
    assert "holds PostgreSQL 15 and cluster pg-copy runs PostgreSQL 17" in message


def test_the_newest_database_of_the_source_counts():
    # After a clone of its own the source stanza has two databases; the newest decides.
    source = pb.parse_info(fixture("info_after_clone.json"), now=NOW)["dst"]
    assert [d["id"] for d in source["databases"]] == [1, 2]
    assert pb.clone_errors(source, "pg-copy", "15") == []
    source["databases"][-1]["version"] = "16"
    assert pb.clone_errors(source, "pg-copy", "15") != []


@pytest.mark.parametrize("name", [None, "", "pg copy", "pg;rm"])
def test_a_source_that_is_no_stanza_name_is_refused(name):
    [message] = pb.clone_errors({"stanza": name, "status_code": 0}, "pg-copy", "15")
    assert "is not a pgBackRest stanza name" in message


def test_the_stanza_follows_the_clone():
    upgraded = pb.parse_info(fixture("info_full_incr.json"), now=NOW)["pg-test"]
    assert pb.clone_stanza_command(upgraded, "pg-copy") == [
        "pgbackrest", "--stanza=pg-copy", "--log-level-console=info", "stanza-upgrade"]
    no_backup = pb.parse_info(fixture("info_no_backup.json"), now=NOW)["pg-test"]
    assert pb.clone_stanza_command(no_backup, "pg-copy")[-1] == "stanza-upgrade"
    missing = pb.parse_info(fixture("info_missing_stanza.json"), now=NOW)["pg-test"]
    assert pb.clone_stanza_command(missing, "pg-copy")[-1] == "stanza-create"
    with pytest.raises(pb.PgbackrestError, match="is not a pgBackRest stanza name"):
        pb.clone_stanza_command(upgraded, "pg copy")

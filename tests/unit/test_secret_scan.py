"""tests/tools/secret_scan.py: finds secret values and never prints them."""

import io
import json
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tools"))
import secret_scan  # noqa: E402


def run(monkeypatch, capsys, secrets, *files):
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(secrets)))
    code = secret_scan.main([str(f) for f in files])
    return code, capsys.readouterr()


def test_finds_a_secret_and_names_it_without_its_value(tmp_path, monkeypatch, capsys):
    log = tmp_path / "deploy.log"
    log.write_text("ok: [10.0.0.1]\nPGPASSWORD=hunter2-secret ran\n")
    code, out = run(monkeypatch, capsys, {"pg_admin_password": "hunter2-secret", "other": "never-there"}, log)
    assert code == 1
    assert f"{log}:2: the value of pg_admin_password" in out.out
    assert "hunter2-secret" not in out.out + out.err
    assert "1 found" in out.out


def test_clean_files_pass(tmp_path, monkeypatch, capsys):
    log = tmp_path / "journal.txt"
    log.write_text("nothing to see\n" * 10)
    code, out = run(monkeypatch, capsys, {"a": "secret-value"}, log)
    assert code == 0 and "10 lines, 0 found" in out.out


@pytest.mark.parametrize("secrets", [{}, ["x"], {"short": "abc"}])
def test_bad_input_is_refused(tmp_path, monkeypatch, capsys, secrets):
    log = tmp_path / "f"
    log.write_text("abc\n")
    code, out = run(monkeypatch, capsys, secrets, log)
    assert code == 2 and "abc" not in out.out

"""Make the collection importable as ansible_collections.pgha.cloud in unit tests."""

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

# tests/unit/conftest.py -> repo root; collections/ansible_collections/pgha/cloud links back to it.
COLLECTIONS = Path(__file__).resolve().parents[2] / "collections"

if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory):
    """A CA and a 127.0.0.x server certificate: {"ca", "cert", "key"} file paths."""
    from tls_testca import make_ca

    return make_ca(tmp_path_factory.mktemp("ca"))


# -- moto in server mode: the AWS API of the entry point tests ------------------
MOTO_REGION = "eu-west-1"
# Member name -> IP of the fake clusters the AWS tests use (NLB targets and A records need IPs).
MEMBER_IPS = {"pg-1": "10.0.1.11", "pg-2": "10.0.2.11", "pg-3": "10.0.3.11"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def moto_url():
    """A moto server on a free loopback port for the whole session (real HTTP, as on a node)."""
    binary = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    port = free_port()
    proc = subprocess.Popen([binary, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1).read()
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise RuntimeError(f"moto_server did not start on {url}") from None
            time.sleep(0.2)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def moto(moto_url, monkeypatch):
    """moto reset to an empty account; fake credentials only in this test's environment."""
    reset = urllib.request.Request(moto_url + "/moto-api/reset", method="POST")
    urllib.request.urlopen(reset, timeout=5).read()
    for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    return moto_url


@pytest.fixture
def fake_with_ips():
    """A FakePatroni whose members report the MEMBER_IPS addresses as their host."""
    from fake_patroni import FakePatroni

    cluster = FakePatroni()
    for m in cluster.members:
        m["host"] = MEMBER_IPS[m["name"]]
    yield cluster
    cluster.close()


def three_member_cluster(**variables):
    """(hostvars, groups) of cluster pg-test on three hosts, every host with `variables`."""
    hosts = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    hostvars = {h: {"pg_cluster": "pg-test", "pg_seq": i + 1, "pg_role": "primary" if i == 0 else "replica",
                    **variables} for i, h in enumerate(hosts)}
    return hostvars, {"all": hosts, "pg-test": hosts}

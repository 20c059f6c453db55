#!/usr/bin/python3 -IS
"""Usage: pgha-vip-check URL CA_FILE TIMEOUT

keepalived's check: exit 0 only when Patroni's /primary answers 200 and its
body says PostgreSQL runs as a primary. Patroni answers 200 as soon as the
member holds the leader key, while its PostgreSQL may still be in recovery for
a second or two during a promotion; the body's "role" comes from
pg_is_in_recovery(), so the VIP moves only once the new primary takes writes.

keepalived starts it every second on every node, so it imports only ssl,
socket and json (urllib.request costs about 40 ms of CPU more per run) and
speaks HTTP/1.0 itself; -I -S keep site-packages and the environment out.
"""
import json
import socket
import ssl
import sys

MAX_ANSWER = 65536


def split_url(url):
    """(host, port, path) of an https://host:port/path URL; ValueError otherwise."""
    scheme, sep, rest = url.partition("://")
    if scheme != "https" or not sep:
        raise ValueError(f"{url} is not an https:// URL")
    hostport, _sep, path = rest.partition("/")
    host, _sep, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"{url} names no host:port")
    return host.strip("[]"), int(port), "/" + path


def fetch(host, port, path, context, timeout):
    """The raw answer (status line, headers and body) to GET path, at most MAX_ANSWER bytes."""
    with socket.create_connection((host, port), timeout=timeout) as raw, \
            context.wrap_socket(raw, server_hostname=host) as conn:
        request = f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nAccept: application/json\r\n\r\n"
        conn.sendall(request.encode())
        data = b""
        while len(data) < MAX_ANSWER:
            chunk = conn.recv(MAX_ANSWER)
            if not chunk:
                break
            data += chunk
    return data


def passes(answer):
    """True for a 200 whose JSON body is an object with role 'primary'."""
    head, _sep, body = answer.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split()
    if len(status) < 2 or status[1] != b"200":
        return False
    try:
        document = json.loads(body)
    except ValueError:
        return False
    return isinstance(document, dict) and document.get("role") == "primary"


def main(argv):
    if len(argv) != 4:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    try:
        host, port, path = split_url(argv[1])
        timeout = float(argv[3])
    except ValueError as error:
        print(f"pgha-vip-check: {error}", file=sys.stderr)
        return 2
    try:
        context = ssl.create_default_context(cafile=argv[2])
        answer = fetch(host, port, path, context, timeout)
    except (OSError, ValueError):
        # Refused, timed out, a bad certificate, an unreadable CA file.
        return 1
    # 503 (not the leader), no JSON, or a leader still in recovery.
    return 0 if passes(answer) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))

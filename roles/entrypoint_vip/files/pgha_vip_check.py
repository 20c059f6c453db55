#!/usr/bin/env python3
"""Usage: pgha-vip-check URL CA_FILE TIMEOUT

keepalived's check: exit 0 only when Patroni's /primary answers 200 and its
body says PostgreSQL runs as a primary. Patroni answers 200 as soon as the
member holds the leader key, while its PostgreSQL may still be in recovery for
a second or two during a promotion; the body's "role" comes from
pg_is_in_recovery(), so the VIP moves only once the new primary takes writes.
"""
import json
import ssl
import sys
import urllib.error
import urllib.request


def main(argv):
    if len(argv) != 4:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    url, ca_file, timeout = argv[1], argv[2], float(argv[3])
    context = ssl.create_default_context(cafile=ca_file)
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as answer:
            if answer.status != 200:
                return 1
            body = json.loads(answer.read(65536))
    except (urllib.error.URLError, OSError, ValueError):
        # 503 (not the leader), refused, timed out, a bad certificate, no JSON.
        return 1
    return 0 if isinstance(body, dict) and body.get("role") == "primary" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))

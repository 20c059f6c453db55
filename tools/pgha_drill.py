#!/usr/bin/env python3
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Measure what a fault costs the clients of a cluster: write and read outage, lost commits.

The command line of the failover drill (`pgha_drill.py --help`). The code is
in the package beside this file, tools/pgha_drill_lib/:

    cli.py          options, and the drill itself: checks, steady phase, fault, recovery, restore
    clients.py      writers, readers and probes (connections, REST polls), the drill database's checks
    faults.py       the fault kinds: a Docker test bed's commands, or a hand-off to playbooks/drill.yml
    analysis.py     outage, recovery, routing and overlap figures from the clients' logs (pure)
    output.py       <label>.json, the Markdown summary and the SVG timeline
    patroni_api.py  every call to Patroni's REST API (through plugins/module_utils/patroni_core.py)
    common.py       the drill's database name, log lines, secrets kept out of messages
"""

import sys
from pathlib import Path

# tools/ itself, also when this file is loaded by path (the unit tests).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pgha_drill_lib.cli import main  # noqa: E402 - after the path above

if __name__ == "__main__":
    sys.exit(main())

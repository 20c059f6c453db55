"""Make the collection importable as ansible_collections.pgha.cloud in unit tests."""

import sys
from pathlib import Path

# tests/unit/conftest.py -> repo root; collections/ansible_collections/pgha/cloud links back to it.
COLLECTIONS = Path(__file__).resolve().parents[2] / "collections"

if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

"""The failover drill behind tools/pgha_drill.py, in parts (see that file for the layout)."""

"""Tally's benchmark: `make bench` (or `python -m bench`).

Runs the local stack in-process (moto served single-threaded on 127.0.0.1, tables from
template.yaml, the template's handlers called with API Gateway v2 events) and measures what
DESIGN.md §7 budgets: write units per event and $ per million events, ingestion throughput
against a bare moto write loop, items read per usage period at 1 k and 100 k events, cold-start
import time of each handler, and the ingest handler's own CPU time per event.

Results are printed as a Markdown table and written to bench/results/latest.json (git-ignored);
docs/PERFORMANCE.md explains the method and records a run.
"""

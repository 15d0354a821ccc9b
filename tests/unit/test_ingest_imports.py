"""The ingest handler's cold start: importing functions/ingest/app.py loads only what ingestion runs.

Every module imported at import time is paid on each cold start (issue 15: +319 ms after boto3 once
the ingest path had started loading the general API module, alerts and billing references). The
handler is imported by path in a fresh interpreter, as Lambda does, and what it added to
sys.modules is compared with the lists below. A module that shows up here and is not on them is
either imported by mistake (import it inside the function that needs it, as tally.store.objects
does with transactions) or really run by every ingest request (then add it, and say why in the
commit).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INGEST = REPO / "functions" / "ingest" / "app.py"

# Tally modules the ingest path runs: the request edge, auth, the meter and customer lookups, the
# usage write and its alert watch, the meter event's presenter.
TALLY = {
    "tally", "tally.clock", "tally.context", "tally.errors", "tally.ids", "tally.observability",
    "tally.settings",
    "tally.api", "tally.api.auth", "tally.api.http", "tally.api.meter_events", "tally.api.params",
    "tally.api.parsing", "tally.api.routing", "tally.api.versions",
    "tally.billing", "tally.billing.accounts", "tally.billing.event_lookups", "tally.billing.meter_events",
    "tally.billing.references",
    "tally.presenters", "tally.presenters.meter_events",
    "tally.domain", "tally.domain.aggregation", "tally.domain.alerts", "tally.domain.api_version",
    "tally.domain.dimensions",  # an event's dimension values are read as it is accepted (issue 14)
    "tally.domain.metadata", "tally.domain.meter_events", "tally.domain.periods", "tally.domain.pricing",
    "tally.domain.records",
    "tally.store", "tally.store.api_keys", "tally.store.aws", "tally.store.bodies", "tally.store.changes",
    "tally.store.codec", "tally.store.errors", "tally.store.items", "tally.store.meter_names",
    "tally.store.models", "tally.store.objects",
    "tally.store.recent",  # what a warm process keeps of the lookups (issue 15, point 5)
}  # fmt: skip
# The usage store is the ingest path's own (its modules change with the write path): all of it.
TALLY_PACKAGES = ("tally.store.usage",)
# Third-party distributions it may load (PynamoDB brings botocore; boto3 itself is imported lazily).
THIRD_PARTY = {
    "aws_lambda_powertools", "pynamodb", "botocore", "blinker", "certifi", "dateutil", "jmespath", "six",
    "urllib3", "typing_extensions",
}  # fmt: skip
# Never at import time on the ingest path, whatever the lists above say.
NEVER = (
    "boto3",
    "aws_xray_sdk",
    "aws_lambda_powertools.utilities.idempotency",
    "aws_lambda_powertools.event_handler",
    "tally.store.transactions",
    "tally.billing.alerts",
    "tally.billing.invoices",
    "tally.presenters.invoices",
)

PROBE = r"""
import importlib.util, json, sys
before = set(sys.modules)
spec = importlib.util.spec_from_file_location("ingest_app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
assert callable(module.handler)
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def _imported() -> list[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "OBJECTS_TABLE": "objects",
        "USAGE_TABLE": "usage",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(INGEST)],
        cwd=INGEST.parent,  # Lambda runs with the function's folder as the working directory
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


def test_the_ingest_handler_imports_only_what_ingestion_runs():
    # GIVEN a fresh interpreter WHEN the ingest handler is imported by path
    loaded = _imported()
    # THEN no module it never runs came with it
    tally = {m for m in loaded if m == "tally" or m.startswith("tally.")}
    unexpected = sorted(m for m in tally - TALLY if not m.startswith(TALLY_PACKAGES))
    assert not unexpected, f"the ingest handler now imports {unexpected} at import time"
    third = {
        m.split(".")[0]
        for m in loaded
        if not m.startswith("tally") and m.split(".")[0] not in sys.stdlib_module_names
    }
    assert third <= THIRD_PARTY, f"new third-party imports on the ingest path: {sorted(third - THIRD_PARTY)}"
    never = sorted(m for m in loaded if any(m == n or m.startswith(n + ".") for n in NEVER))
    assert not never, f"the ingest handler imports {never}"

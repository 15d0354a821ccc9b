"""Stage 5: import time of each handler module, each in a fresh interpreter, no AWS calls.

Each measurement is one subprocess (the venv's python) that times a single import with
time.perf_counter() and reports what ended up in sys.modules. The environment is the one
tally_local.aws.configure_environment sets (fake credentials, table names, a 127.0.0.1 endpoint);
importing a handler must not call AWS, and nothing here sends a request.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

PROBE = r"""
import importlib.util, json, sys, time
mode, path = sys.argv[1], sys.argv[2]
if mode == "after-boto3":
    import boto3  # noqa: F401  (already imported: time only what the handler adds)
t0, c0 = time.perf_counter(), time.process_time()
if mode == "boto3":
    import boto3  # noqa: F401
else:
    spec = importlib.util.spec_from_file_location("handler_app", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert callable(module.handler)
ms = (time.perf_counter() - t0) * 1000
cpu_ms = (time.process_time() - c0) * 1000
print(json.dumps({
    "ms": ms,
    "cpu_ms": cpu_ms,
    "xray": any(m == "aws_xray_sdk" or m.startswith("aws_xray_sdk.") for m in sys.modules),
    "boto3": "boto3" in sys.modules,
    "pynamodb": "pynamodb" in sys.modules,
    "idempotency": "aws_lambda_powertools.utilities.idempotency" in sys.modules,
    "modules": len(sys.modules),
}))
"""


def _probe(mode: str, path: Path | None, env: dict[str, str]) -> dict[str, Any]:
    cwd = path.parent if path else Path.cwd()  # Lambda runs with the function's code dir on sys.path
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode, str(path or "")],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"import probe {mode} {path} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(template: Any, env: dict[str, str], runs: int = 5) -> dict[str, Any]:
    full_env = {**os.environ, **env}
    full_env.pop("PYTHONPATH", None)
    handlers = {}
    for logical_id in ("IngestFunction", "ApiFunction"):
        fn = template.functions[logical_id]
        module = fn.handler.rpartition(".")[0]
        handlers[logical_id] = fn.code_dir / f"{module.replace('.', '/')}.py"
    # one discarded round: compiles .pyc files so every measured run sees the same disk state
    _probe("boto3", None, full_env)
    for path in handlers.values():
        _probe("handler", path, full_env)
    samples: dict[str, list[dict[str, Any]]] = {"boto3": []}
    for logical_id in handlers:
        samples[logical_id] = []
        samples[f"{logical_id}+boto3"] = []
    for _ in range(runs):  # interleaved, so drift on a noisy machine hits every series alike
        samples["boto3"].append(_probe("boto3", None, full_env))
        for logical_id, path in handlers.items():
            samples[logical_id].append(_probe("handler", path, full_env))
            samples[f"{logical_id}+boto3"].append(_probe("after-boto3", path, full_env))
    boto3_ms = statistics.median(s["ms"] for s in samples["boto3"])
    # CPU time of the same imports: what a busy machine inflates least (wall time waits for a core)
    boto3_cpu = statistics.median(s["cpu_ms"] for s in samples["boto3"])
    out: dict[str, Any] = {
        "runs": runs,
        "boto3_ms": round(boto3_ms, 1),
        "boto3_cpu_ms": round(boto3_cpu, 1),
        "handlers": {},
    }
    for logical_id, path in handlers.items():
        median = statistics.median(s["ms"] for s in samples[logical_id])
        after = statistics.median(s["ms"] for s in samples[f"{logical_id}+boto3"])
        last = samples[logical_id][-1]
        out["handlers"][logical_id] = {
            "module": str(path.relative_to(path.parents[2])),
            "import_ms": round(median, 1),
            "import_ms_samples": [round(s["ms"], 1) for s in samples[logical_id]],
            "over_boto3_ms": round(median - boto3_ms, 1),
            "added_after_boto3_ms": round(after, 1),
            "over_boto3_cpu_ms": round(
                statistics.median(s["cpu_ms"] for s in samples[logical_id]) - boto3_cpu, 1
            ),
            "added_after_boto3_cpu_ms": round(
                statistics.median(s["cpu_ms"] for s in samples[f"{logical_id}+boto3"]), 1
            ),
            "imports_aws_xray_sdk": any(s["xray"] for s in samples[logical_id]),
            "imports_boto3_at_import": last["boto3"],
            "imports_pynamodb_at_import": last["pynamodb"],
            "imports_idempotency_at_import": last["idempotency"],
            "modules_loaded": last["modules"],
        }
    return out

"""The Lambda layer holds only what Lambda runs: the `tally` package and its runtime requirements.

Development tooling (moto, the local runtime, the template reader, the CLI, the bench) must never
ship in it: it would bloat cold starts and put a fake AWS into production.
"""

from __future__ import annotations

import ast
import re

import support

LAYER = support.REPO_ROOT / "layers" / "tally"
FORBIDDEN_MODULES = {"moto", "yaml", "werkzeug", "tally_local", "bench", "pytest", "stripe", "requests"}
FORBIDDEN_REQUIREMENTS = {"moto", "pyyaml", "werkzeug", "pytest", "stripe", "requests", "cfn-lint"}


def _imported_roots(path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_layer_files_are_only_the_runtime_package():
    # GIVEN the layer's source tree WHEN listing it THEN only the tally package and requirements.txt
    # (`pip install -e` leaves a small tally.egg-info beside the package: metadata, no code)
    top = sorted(
        p.name for p in LAYER.iterdir() if p.name != "__pycache__" and not p.name.endswith(".egg-info")
    )
    assert top == ["requirements.txt", "tally"]
    names = {p.name for p in (LAYER / "tally").rglob("*")}
    assert not names & {"local", "cli.py", "moto_patch.py", "gateway.py", "template.py"}


def test_layer_code_imports_no_development_tooling():
    # GIVEN every module in the layer WHEN reading its imports THEN none is development tooling
    offenders = {
        str(path.relative_to(LAYER)): sorted(_imported_roots(path) & FORBIDDEN_MODULES)
        for path in (LAYER / "tally").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_layer_requirements_name_no_development_package():
    # GIVEN the layer's requirements.txt (what `sam build` installs into the layer)
    lines = (LAYER / "requirements.txt").read_text().splitlines()
    names = {re.split(r"[<>=\[ ;]", line.strip())[0].lower() for line in lines if line.strip()}
    names.discard("")
    names = {n for n in names if not n.startswith("#")}
    # THEN no development package is installed into the layer
    assert names & FORBIDDEN_REQUIREMENTS == set()
    assert names == {"boto3", "pynamodb", "aws-lambda-powertools"}


def test_sam_build_output_has_no_development_tooling_when_present():
    # GIVEN a `sam build` output (only when one exists; the check above covers the sources)
    built = support.REPO_ROOT / ".aws-sam" / "build" / "TallyLayer"
    if not built.exists():
        return
    # THEN neither moto, PyYAML, werkzeug nor the local runtime is in it
    found = {p.name.lower() for p in built.rglob("*") if p.is_dir()}
    assert not found & {"moto", "yaml", "werkzeug", "tally_local"}

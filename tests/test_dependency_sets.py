"""Each Makefile target installs only the dependency set it needs (pyproject.toml's extras), and that
set holds everything the target's code imports: `make run` → `local` (not the lint or test tools:
the first `make run` took 5.5 min, mostly cfn-lint, checkov, mypy and ruff), `make test` → `test`
(what a fresh clone's CI needs), `make lint` → `lint`.

What a set holds is resolved from the installed packages' metadata (the set and what each of its
packages requires, extras included), so this runs in any environment `make test` built."""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest
import support
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PYPROJECT = tomllib.loads((support.REPO_ROOT / "pyproject.toml").read_text())
EXTRAS: dict[str, list[str]] = PYPROJECT["project"]["optional-dependencies"]
RUNTIME: list[str] = PYPROJECT["project"]["dependencies"]
SELF = canonicalize_name(PYPROJECT["project"]["name"])
LINT_TOOLS = {"cfn-lint", "checkov", "mypy", "ruff", "boto3-stubs"}
TEST_TOOLS = {"pytest", "hypothesis", "time-machine", "stripe"}


def _requirements_of(extra: str) -> list[Requirement]:
    """The runtime dependencies plus the extra's, with the project's own extras (`tally[local]`)
    expanded in place."""
    found = [Requirement(r) for r in RUNTIME]
    for line in EXTRAS[extra]:
        req = Requirement(line)
        if canonicalize_name(req.name) == SELF:
            for inner in req.extras:
                found += _requirements_of(inner)
        else:
            found.append(req)
    return found


def closure(extra: str) -> set[str]:
    """Every distribution `pip install -e .[extra]` installs (canonical names): the extra's
    requirements and, recursively, what each requires (with the extras asked of it)."""
    seen: set[str] = set()
    todo = [(req, frozenset(req.extras)) for req in _requirements_of(extra)]
    done: set[tuple[str, frozenset[str]]] = set()
    while todo:
        req, extras = todo.pop()
        name = canonicalize_name(req.name)
        if (name, extras) in done:
            continue
        done.add((name, extras))
        seen.add(name)
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            continue  # not installed here: its own requirements are unknown, its name is enough
        for line in requires:
            inner = Requirement(line)
            environments = [{"extra": e} for e in extras] or [{"extra": ""}]
            if inner.marker is None or any(inner.marker.evaluate(env) for env in environments):
                todo.append((inner, frozenset(inner.extras)))
    return seen


# Run by hand with the full `dev` set, never by `make run`: generators of committed data.
HAND_RUN = {"dev/tally_local/stripe_event_types.py"}  # reads the stripe SDK's event types


def _third_party_imports(*roots: Path, skip: frozenset[str] = frozenset()) -> set[str]:
    """Top-level modules imported by the .py files under roots (but those in skip, relative to the
    repository) that are neither the standard library nor the repository's own (tally, tally_local,
    bench, test helpers)."""
    own = {"tally", "tally_local", "bench", "support", "stripe_shapes", "item_sizes", "conftest"}
    found: set[str] = set()
    for root in roots:
        for path in root.rglob("*.py"):
            if path.relative_to(support.REPO_ROOT).as_posix() in skip:
                continue
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.Import):
                    found.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    found.add(node.module.split(".")[0])
    local_modules = {p.stem for root in roots for p in root.rglob("*.py")}
    return {m for m in found - own - local_modules if m not in sys.stdlib_module_names}


def _distributions_of(modules: set[str]) -> dict[str, set[str]]:
    installed = metadata.packages_distributions()
    return {m: {canonicalize_name(d) for d in installed.get(m, [])} for m in modules}


def _target_stamp(target: str) -> str:
    """The dependency set a Makefile target's rule installs (its `.installed-<set>` prerequisite)."""
    makefile = (support.REPO_ROOT / "Makefile").read_text()
    rule = re.search(rf"^{target}:(.*)$", makefile, re.M)
    assert rule, f"no `{target}` rule in the Makefile"
    found = re.findall(r"\$\(call STAMP,(\w+)\)", rule.group(1))
    assert len(found) == 1, f"`{target}` should depend on exactly one dependency set: {rule.group(0)}"
    return found[0]


@pytest.mark.parametrize(
    ("target", "extra"),
    [
        ("run", "local"),
        ("test", "test"),
        ("bench", "test"),
        ("lint", "lint"),
        ("format", "lint"),
        ("install", "dev"),
    ],
)
def test_each_make_target_installs_its_own_set(target, extra):
    # GIVEN the Makefile WHEN reading the target's prerequisite THEN it installs that set of pyproject
    assert _target_stamp(target) == extra
    assert extra in EXTRAS


def test_make_run_installs_no_lint_or_test_tool():
    # GIVEN the `local` set and everything it pulls in WHEN looking for the tools THEN none is there
    # (before: `make run` installed `dev`, 146 packages with cfn-lint, checkov, mypy, ruff, pytest…;
    # moto's `server` extra alone brought cfn-lint, docker, aws-xray-sdk, graphql-core…)
    assert closure("local") & (LINT_TOOLS | TEST_TOOLS) == set()


def test_make_test_installs_no_lint_tool_but_cfn_lint():
    # GIVEN the `test` set THEN of the lint tools only cfn-lint (tests/test_template.py lints with it)
    assert closure("test") & LINT_TOOLS == {"cfn-lint"}


def test_dev_is_every_set():
    # GIVEN `make install` (`dev`) THEN it holds local, test and lint, so their stamps can be touched
    assert closure("dev") >= closure("local") | closure("test") | closure("lint")


@pytest.mark.parametrize(
    ("extra", "folders"),
    [
        ("local", ["dev/tally_local", "layers/tally/tally", "functions"]),
        ("test", ["tests", "bench", "dev/tally_local", "layers/tally/tally", "functions"]),
    ],
)
def test_every_third_party_import_is_in_the_set(extra, folders):
    # GIVEN the code a target runs (make run: the local runtime and the handlers; make test: the
    # tests and the bench too) WHEN mapping each third-party import to its distribution
    skip = frozenset(HAND_RUN) if extra == "local" else frozenset()
    imports = _third_party_imports(*(support.REPO_ROOT / f for f in folders), skip=skip)
    owners = _distributions_of(imports)
    # THEN each import is installed by some distribution of the set
    installed = closure(extra)
    missing = {module: dists for module, dists in owners.items() if not dists & installed}
    assert missing == {}, f"imports not covered by the `{extra}` set: {missing}"

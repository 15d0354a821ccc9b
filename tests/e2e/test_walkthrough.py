"""The seed guide's walkthrough (tests/data/seed-walkthrough.sh), curl step by step, against
the local server: meter → price → customer → subscription → meter event → preview invoice."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import support

pytestmark = pytest.mark.e2e
SCRIPT = support.DATA_DIR / "seed-walkthrough.sh"


def _sections(output: str) -> dict[str, str]:
    """The script's `== Title` sections, each with what curl printed under it."""
    sections = {}
    for chunk in output.split("\n== ")[1:]:
        title, _, body = chunk.partition("\n")
        sections[title.strip()] = body.strip()
    return sections


def test_walkthrough_previews_25_tokens_as_4_cents(local_server, e2e_key):
    # GIVEN a fresh account on the local server, and curl on the PATH
    assert shutil.which("curl"), "the walkthrough needs curl"
    # WHEN the walkthrough script runs against it
    done = subprocess.run(
        ["bash", str(SCRIPT), local_server.url, e2e_key],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    sections = _sections(done.stdout)
    # THEN every step answered without a Stripe error
    assert list(sections) == [
        "Create a meter",
        "Create a pricing model",
        "Create a customer",
        "Create a subscription",
        "Send a test meter event",
        "Create a preview invoice",
    ], done.stdout
    answers = {title: json.loads(body) for title, body in sections.items()}
    failed = {title: answer["error"] for title, answer in answers.items() if "error" in answer}
    assert failed == {}
    # AND the preview bills 25 tokens at 4 cents per 100 (rounded up): one line, quantity 1, 4 cents
    preview = answers["Create a preview invoice"]
    lines = preview["lines"]["data"]
    assert any(line["quantity"] == 1 and line["amount"] == 4 for line in lines), lines
    assert preview["total"] == 4

"""The README a newcomer follows stays true: its deploy section names every resource, parameter and
output of template.yaml; its curl walkthrough is what tests/data/seed-walkthrough.sh sends; its
walkthroughs can run one after another on one stack (each meter its own event name); every
official SDK has its section. (tests/e2e/test_readme_walkthroughs.py runs the walkthroughs.)"""

from __future__ import annotations

import re
import shlex

import pytest
import support

from tally_local.template import load

README = (support.REPO_ROOT / "README.md").read_text()
SCRIPT = (support.DATA_DIR / "seed-walkthrough.sh").read_text()


def section(title: str, text: str = README) -> str:
    """The README's `## title` section (up to the next `## `), sub-sections included."""
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def blocks(language: str, text: str = README) -> list[str]:
    """The fenced code blocks of that language, in order."""
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


# -- the deploy section is the template ----------------------------------------------------------
TEMPLATE = load().raw
DEPLOY = section("Deploy to AWS")


@pytest.mark.parametrize(
    "kind", ["Resources", "Parameters", "Outputs"], ids=["resource", "parameter", "output"]
)
def test_the_deploy_section_names_everything_the_template_creates_or_takes(kind):
    # GIVEN template.yaml's logical ids of that kind WHEN looking for each, in backticks, in the
    # README's deploy section THEN none is missing
    missing = [name for name in TEMPLATE[kind] if f"`{name}`" not in DEPLOY]
    assert missing == [], f"README.md, 'Deploy to AWS', does not name: {missing}"


def test_every_parameter_has_a_row_with_its_default():
    # GIVEN the parameters table WHEN reading each parameter's row THEN it shows the template's default
    rows = dict(re.findall(r"^\| `(\w+)` \| ([^|]*) \|", section("Deploy to AWS"), re.M))
    for name, spec in TEMPLATE["Parameters"].items():
        assert name in rows, f"no row for {name}"
        default = str(spec.get("Default", ""))
        shown = rows[name].strip()
        assert shown == (f"`{default}`" if default else "empty"), (name, shown, default)


def test_the_cost_and_teardown_are_written_down():
    # GIVEN the deploy section THEN it prices the idle stack and says how to delete it, retained tables too
    assert "### What it costs doing nothing" in DEPLOY
    assert "sam delete" in DEPLOY
    retained = [k for k, v in TEMPLATE["Resources"].items() if v.get("DeletionPolicy") == "Retain"]
    teardown = DEPLOY[DEPLOY.index("### Tear it down") :]
    assert retained and all(f"`{name}`" in teardown for name in retained), retained


# -- the curl walkthrough is the script ----------------------------------------------------------
def _requests(text: str) -> list[tuple[str, list[str]]]:
    """Each curl call of a shell text as (path, its -d fields): line continuations joined, `$BASE`
    / `$B` dropped, ids written `{{METER_ID}}` or `"$METER_ID"` alike."""
    joined = re.sub(r"\\\n", " ", text)
    calls = []
    for line in joined.splitlines():
        found = re.search(r"curl (?:-sS )?(.*)", line)
        if not found:
            continue
        words = shlex.split(found.group(1).split(")")[0] if "$(" in line else found.group(1))
        path = re.sub(r"^\$\w+", "", words[0])
        fields = [words[i + 1] for i, w in enumerate(words) if w == "-d"]
        fields = [re.sub(r"\$(\w+)|\{\{(\w+)\}\}", lambda m: "<" + (m[1] or m[2]) + ">", f) for f in fields]
        calls.append((path, fields))
    return calls


def test_the_curl_walkthrough_is_what_the_seed_script_sends():
    # GIVEN the README's curl block and the seed walkthrough script
    (curl_block,) = [b for b in blocks("sh") if "billing/meters" in b]
    readme, script = _requests(curl_block), _requests(SCRIPT)
    # WHEN each is read as a list of requests THEN they are the same six, with the same fields
    assert [path for path, _ in readme] == [
        "/v1/billing/meters",
        "/v1/prices",
        "/v1/customers",
        "/v1/subscriptions",
        "/v1/billing/meter_events",
        "/v1/invoices/create_preview",
    ]
    assert readme == script


# -- the walkthroughs run in order on one stack --------------------------------------------------
def _meter_event_names(text: str) -> list[str]:
    """The event_name of every meter a code text creates (curl `-d event_name=`, SDK dicts)."""
    names = []
    for chunk in re.split(r"(?=billing/meters|billing\.meters\.create)", text)[1:]:
        found = re.search(r"event_name[\"']?\s*[=:]\s*[\"']?(\w+)", chunk)
        if found:
            names.append(found.group(1))
    return names


def test_each_walkthrough_meter_has_its_own_event_name():
    # GIVEN every code block of the walkthroughs and SDK sections, in order
    code = "\n".join(
        block
        for title in ("Walkthroughs", "Official Stripe SDKs")
        for language in ("sh", "python", "js")
        for block in blocks(language, section(title))
    )
    # WHEN collecting the event_name of every meter they create
    names = _meter_event_names(code)
    # THEN there are the four walkthrough meters, none sharing an event name (an active meter's
    # event_name is unique in an account, so a repeat would fail on the same `make run`)
    assert sorted(names) == [
        "alpaca_ai_tokens",
        "alpaca_ai_tokens_node",
        "alpaca_ai_tokens_sdk",
        "llm_tokens",  # the pricing plans walkthrough (branch actions)
    ], names


# `meter_events.create({... "event_name": "x"` or `…/meter_events … -d event_name=x`
SENT_EVENT_NAME = r"meter_events(?:\.create\(|[^\n]*\n?[^\n]*-d )[^)]*?event_name[\"']?\s*[=:]\s*[\"']?(\w+)"


def test_meter_events_use_the_event_name_of_a_meter_created_before_them():
    # GIVEN the walkthroughs in order WHEN a block sends meter events THEN to a meter created earlier
    created: set[str] = set()
    for block in blocks("sh", section("Walkthroughs")) + blocks("python", section("Walkthroughs")):
        created |= set(_meter_event_names(block))
        sent = re.findall(
            r"meter_events(?:\.create\(|[^\n]*\n?[^\n]*-d )[^)]*?event_name[\"']?\s*[=:]\s*[\"']?(\w+)", block
        )
        assert set(sent) <= created, (sent, created)


# -- money and SDKs ------------------------------------------------------------------------------
def test_how_money_is_collected_says_how_to_mark_paid_and_what_to_wire():
    money = section("How money is collected")
    assert "paid_out_of_band=true" in money and "/pay" in money
    for event in ("invoice.finalized", "invoice.paid"):
        assert f"`{event}`" in money


@pytest.mark.parametrize(
    ("sdk", "settings"),
    [
        ("Python", ["base_addresses", '"meter_events"', "stripe.api_base", "stripe.meter_events_api_base"]),
        ("Node", ["host: '127.0.0.1'", "port: 4242", "protocol: 'http'", "{host: '127.0.0.1'}"]),
        ("Go", ["stripe.NewBackendsWithConfig", "stripe.MeterEventsBackend", "BackendConfig{URL"]),
        (
            "Java",
            [
                "setApiBase",
                "setMeterEventsBase",
                "Stripe.overrideApiBase",
                "Stripe.overrideMeterEventsBase",
                "setBaseUrl",
            ],
        ),
        (".NET", ["apiBase:", "meterEventsBase:", "StripeConfiguration.StripeClient"]),
        ("Ruby", ["api_base:", "meter_events_base:", "Stripe.api_base", "Stripe.meter_events_base"]),
        ("PHP", ["'api_base'", "'meter_events_base'"]),
    ],
)
def test_each_official_sdk_has_its_base_url_settings(sdk, settings):
    # GIVEN the SDK section WHEN reading that SDK's sub-section THEN it names its base settings
    sdks = section("Official Stripe SDKs")
    start = sdks.index(f"\n### {sdk} ")
    end = sdks.find("\n### ", start + 1)
    text = sdks[start : end if end != -1 else len(sdks)]
    missing = [s for s in settings if s not in text]
    assert missing == [], f"{sdk}: {missing}"

"""/v2/billing/intents (create, reserve, release_reservation, commit, cancel; actions) and
/v2/billing/pricing_plan_subscriptions (retrieve, list, update) — JSON."""

from __future__ import annotations

from typing import Any

from tally.api.forms import billing_cycle, v2_currency
from tally.api.http import Request
from tally.api.lists import v2_envelope, v2_list_args, v2_page
from tally.api.params import Params
from tally.api.routing import Routes
from tally.billing import intent_cadences, intents, plan_subscriptions
from tally.domain import partial_periods
from tally.domain.catalog import LOOKUP_KEY_MAX
from tally.domain.intents import (
    ACTION_TYPES,
    COLLECT_AT,
    EFFECTIVE,
    FEEDBACK,
    MAX_ACTIONS,
    Action,
    PlanSubscription,
    Quantity,
)
from tally.domain.meter_events import parse_rfc3339
from tally.errors import InvalidRequest, NotFound, invalid
from tally.presenters.intents import action, intent, plan_subscription

routes = Routes()
INTENTS = "/v2/billing/intents"
SUBSCRIPTIONS = "/v2/billing/pricing_plan_subscriptions"
UNSUPPORTED_ACTIONS = ("apply", "remove")


@routes.route("POST /v2/billing/intents")
def create(request: Request) -> dict[str, Any]:
    params = request.params()
    currency = v2_currency(params)
    cadence = params.str("cadence", max_length=255)
    data = params.sub("cadence_data")
    if (cadence is None) == (data is None):
        raise invalid("cadence", "Give exactly one of cadence (an existing one) and cadence_data.")
    cadence_data = None if data is None else _cadence_data(data)
    given = params.sublist("actions", required=True, max_items=MAX_ACTIONS) or []
    if not given:
        raise invalid("actions", "At least one action is required.")
    actions = [_action(p, f"actions[{i}]") for i, p in enumerate(given)]
    params.done()
    made = intents.create(request.account, currency, cadence, actions, request.clock, cadence_data)
    return intent(made)


@routes.route("GET /v2/billing/intents/{id}")
def retrieve(request: Request) -> dict[str, Any]:
    request.params().done()
    return intent(intents.retrieve(request.account, request.path_params["id"], request.clock))


@routes.route("GET /v2/billing/intents")
def list_(request: Request) -> dict[str, Any]:
    params = request.params()
    window = v2_list_args(params, default=10)
    params.done()
    return v2_envelope(INTENTS, intents.list_(request.account, window, request.clock), intent, window)


@routes.route("POST /v2/billing/intents/{id}/reserve")
def reserve(request: Request) -> dict[str, Any]:
    request.params().done()
    return intent(intents.reserve(request.account, request.path_params["id"], request.clock))


@routes.route("POST /v2/billing/intents/{id}/release_reservation")
def release(request: Request) -> dict[str, Any]:
    request.params().done()
    return intent(intents.release(request.account, request.path_params["id"], request.clock))


@routes.route("POST /v2/billing/intents/{id}/commit")
def commit(request: Request) -> dict[str, Any]:
    params = request.params()
    if params.has("payment_intent") or params.has("payment_record"):
        raise InvalidRequest(
            "Tally takes no payments: invoices are paid out of band.", param="payment_intent"
        )
    params.done()
    return intent(intents.commit(request.account, request.path_params["id"], request.clock))


@routes.route("POST /v2/billing/intents/{id}/cancel")
def cancel(request: Request) -> dict[str, Any]:
    request.params().done()
    return intent(intents.cancel(request.account, request.path_params["id"], request.clock))


@routes.route("GET /v2/billing/intents/{id}/actions")
def list_actions(request: Request) -> dict[str, Any]:
    params = request.params()
    window = v2_list_args(params, default=10)
    params.done()
    found = intents.retrieve(request.account, request.path_params["id"], request.clock)
    page = v2_page(list(found.actions), window)
    return v2_envelope(f"{INTENTS}/{found.id}/actions", page, lambda a: action(a, found.livemode), window)


@routes.route("GET /v2/billing/intents/{id}/actions/{action_id}")
def retrieve_action(request: Request) -> dict[str, Any]:
    request.params().done()
    found = intents.retrieve(request.account, request.path_params["id"], request.clock)
    for a in found.actions:
        if a.id == request.path_params["action_id"]:
            return action(a, found.livemode)
    raise NotFound("v2.billing.intent_action", request.path_params["action_id"])


def _action(p: Params, where: str) -> Action:
    kind = p.str("type", required=True, choices=(*ACTION_TYPES, *UNSUPPORTED_ACTIONS))
    assert kind is not None
    if kind in UNSUPPORTED_ACTIONS:
        raise InvalidRequest(
            f"Intent actions of type {kind} (discounts) are not supported yet.", param=f"{where}.type"
        )
    body = p.sub(kind, required=True)
    assert body is not None
    p.done()
    body.str("type", choices=("pricing_plan_subscription_details",))
    if body.has("v1_subscription_details"):
        raise InvalidRequest(
            "v1_subscription_details is not supported: use /v1/subscriptions.", param=f"{where}.{kind}"
        )
    details = body.sub("pricing_plan_subscription_details", required=True)
    assert details is not None
    fields: dict[str, Any] = {"id": "", "created": 0, "type": kind}
    if (effective := body.sub("effective_at")) is not None:
        fields["effective_type"] = effective.str("type", required=True, choices=EFFECTIVE[kind])
        if fields["effective_type"] == "timestamp":
            raw = effective.str("timestamp", required=True, max_length=40)
            fields["effective_timestamp"] = parse_rfc3339(raw, f"{where}.{kind}.effective_at.timestamp")
        effective.done()
    fields["collect_at"] = body.str("collect_at", choices=COLLECT_AT) or (
        "on_effective_at" if kind in ("subscribe", "deactivate") else "next_billing_date"
    )
    if (overrides := details.sub("overrides")) is not None:
        fields.update(_overrides(overrides, kind))
    if kind == "subscribe":
        fields["pricing_plan"] = details.str("pricing_plan", required=True, max_length=255)
        fields["pricing_plan_version"] = details.str("pricing_plan_version", max_length=255)
        fields["metadata"] = {
            k: v for k, v in (details.metadata() or {}).items() if v is not None and k != "*"
        }
    else:
        fields["subscription"] = details.str("pricing_plan_subscription", required=True, max_length=255)
    if kind == "modify":
        fields["new_pricing_plan"] = details.str("new_pricing_plan", max_length=255)
        fields["new_pricing_plan_version"] = details.str("new_pricing_plan_version", max_length=255)
    if kind in ("subscribe", "modify"):
        fields["quantities"] = _quantities(details, f"{where}.{kind}")
    if kind == "deactivate" and (cancel := body.sub("cancellation_details")) is not None:
        fields["cancel_comment"] = cancel.str("comment", max_length=500)
        fields["cancel_feedback"] = cancel.str("feedback", choices=FEEDBACK)
        cancel.done()
    details.done()
    body.done()
    return Action(**fields)


def _quantities(details: Params, where: str) -> tuple[Quantity, ...]:
    out: list[Quantity] = []
    for i, c in enumerate(details.sublist("component_configurations", max_items=100) or []):
        component = c.str("pricing_plan_component", max_length=255)
        key = c.str("lookup_key", max_length=LOOKUP_KEY_MAX)
        quantity = c.int("quantity", min=0, max=1_000_000_000)
        c.done()
        if (component is None) == (key is None):
            raise invalid(
                f"{where}.component_configurations[{i}].pricing_plan_component",
                "Give exactly one of pricing_plan_component and lookup_key.",
            )
        out.append(Quantity(component or "", 1 if quantity is None else quantity, lookup_key=key))
    return tuple(out)


def _overrides(p: Params, kind: str) -> dict[str, str | None]:
    """`overrides.partial_period_behaviors[]`: each type at most once, with the fields the action
    type takes (`tally.domain.partial_periods`); what is left out takes the type's default."""
    out: dict[str, str | None] = {}
    seen: set[str] = set()
    for b in p.sublist("partial_period_behaviors", max_items=2) or []:
        kind_of = b.str("type", required=True, choices=partial_periods.OVERRIDE_TYPES[kind])
        assert kind_of is not None
        if kind_of in seen:
            raise invalid(b.path("type"), f"partial_period_behaviors names {kind_of} twice.")
        seen.add(kind_of)
        inner = b.sub(kind_of, required=True)
        assert inner is not None
        b.done()
        if kind_of == "license_fee":
            for name in partial_periods.LICENSE_FEE_FIELDS[kind]:
                out[name.split("_", 1)[0] + "_proration"] = inner.str(name, choices=partial_periods.PRORATION)
        else:
            out["credit_grant_create"] = inner.str("create_behavior", choices=partial_periods.CREATE_BEHAVIOR)
        inner.done()
    p.done()
    return out


def _cadence_data(p: Params) -> intent_cadences.CadenceRequest:
    """`cadence_data`: the cadence the commit creates — `billing_cycle` and a `payer` (an existing
    `billing_profile`, or `billing_profile_data{customer}` for one the commit creates)."""
    cycle_params = p.sub("billing_cycle", required=True)
    assert cycle_params is not None
    cycle = billing_cycle(cycle_params)
    payer = p.sub("payer", required=True)
    assert payer is not None
    profile = payer.str("billing_profile", max_length=255)
    customer = None
    if (data := payer.sub("billing_profile_data")) is not None:
        customer = data.str("customer", required=True, max_length=255)
        if data.has("default_payment_method"):
            raise InvalidRequest(
                "Tally takes no payment methods: invoices are paid out of band.",
                param=data.path("default_payment_method"),
            )
        data.done()
    payer.done()
    if (profile is None) == (customer is None):
        raise invalid(
            payer.path("billing_profile"), "Give exactly one of billing_profile and billing_profile_data."
        )
    if p.has("settings"):
        raise InvalidRequest("Bill and collection settings are not supported yet.", param=p.path("settings"))
    p.done()
    return intent_cadences.CadenceRequest(cycle, billing_profile=profile, customer=customer)


# -- pricing plan subscriptions ----------------------------------------------------------------


def _present(request: Request, s: PlanSubscription) -> dict[str, Any]:
    return plan_subscription(s, plan_subscriptions.now_of(request.account, s, request.clock))


@routes.route("GET /v2/billing/pricing_plan_subscriptions/{id}")
def retrieve_subscription(request: Request) -> dict[str, Any]:
    request.params().done()
    return _present(
        request, plan_subscriptions.retrieve(request.account, request.path_params["id"], request.clock)
    )


@routes.route("POST /v2/billing/pricing_plan_subscriptions/{id}")
def update_subscription(request: Request) -> dict[str, Any]:
    params = request.params()
    metadata = params.metadata()
    clear = bool(params.bool("clear_cancel_at"))
    params.done()
    found = plan_subscriptions.update(
        request.account, request.path_params["id"], metadata, clear, request.clock
    )
    return _present(request, found)


@routes.route("GET /v2/billing/pricing_plan_subscriptions")
def list_subscriptions(request: Request) -> dict[str, Any]:
    params = request.params()
    window = v2_list_args(params)
    cadence = params.str("billing_cadence", max_length=255)
    customer = None
    if (payer := params.sub("payer")) is not None:
        payer.str("type", choices=("customer",))
        customer = payer.str("customer", max_length=255)
        payer.done()
    plan = params.str("pricing_plan", max_length=255)
    version = params.str("pricing_plan_version", max_length=255)
    status = params.str("servicing_status", choices=("pending", "active", "paused", "canceled"))
    if sum(x is not None for x in (cadence, customer, plan, version)) > 1:
        raise invalid(
            "billing_cadence",
            "Give only one of billing_cadence, payer, pricing_plan and pricing_plan_version.",
        )
    params.done()
    page = plan_subscriptions.list_(
        request.account,
        window,
        request.clock,
        cadence=cadence,
        customer=customer,
        pricing_plan=plan,
        pricing_plan_version=version,
        servicing_status_is=status,
    )
    query = {
        "billing_cadence": cadence,
        "pricing_plan": plan,
        "pricing_plan_version": version,
        "servicing_status": status,
    }
    return v2_envelope(SUBSCRIPTIONS, page, lambda s: _present(request, s), window, query)

"""/v2/billing/intents (create, reserve, release_reservation, commit, cancel; actions) and
/v2/billing/pricing_plan_subscriptions (retrieve, list, update) — JSON."""

from __future__ import annotations

from typing import Any

from tally.api.forms import v2_currency
from tally.api.http import Request
from tally.api.lists import v2_envelope, v2_list_args, v2_page
from tally.api.params import Params
from tally.api.routing import Routes
from tally.billing import intents, plan_subscriptions
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
    if params.has("cadence_data"):
        raise InvalidRequest(
            "cadence_data is not supported yet: create the cadence first.", param="cadence_data"
        )
    if cadence is None:
        raise invalid("cadence", "cadence is required.")
    given = params.sublist("actions", required=True, max_items=MAX_ACTIONS) or []
    if not given:
        raise invalid("actions", "At least one action is required.")
    actions = [_action(p, f"actions[{i}]") for i, p in enumerate(given)]
    params.done()
    return intent(intents.create(request.account, currency, cadence, actions, request.clock))


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
    if body.has("overrides"):
        raise InvalidRequest(
            "Partial-period overrides are not supported yet.", param=f"{where}.{kind}.overrides"
        )
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
        if c.has("lookup_key"):
            raise InvalidRequest(
                "Name components by id (lookup_key is not supported yet).", param=f"{where}.lookup_key"
            )
        quantity = c.int("quantity", min=0, max=1_000_000_000)
        c.done()
        if component is None:
            raise invalid(
                f"{where}.component_configurations[{i}].pricing_plan_component",
                "pricing_plan_component is required.",
            )
        out.append(Quantity(component, 1 if quantity is None else quantity))
    return tuple(out)


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

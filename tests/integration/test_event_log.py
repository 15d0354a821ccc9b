"""The event log (outbox) lists a request's writes in the order they were made."""

from __future__ import annotations


def test_inline_product_then_price_list_in_order(api):
    # GIVEN one request that creates a product (product_data) and then its price
    for _ in range(5):
        resp = api.post("/v1/prices", {"currency": "usd", "unit_amount": 100, "product_data": {"name": "P"}})
        assert resp.status == 200, resp.text
    # WHEN the events are listed (newest first)
    types = [e["type"] for e in api.get("/v1/events", {"limit": 10}).json["data"]]
    # THEN each price.created comes right before (i.e. after, in time) its product.created
    assert types == ["price.created", "product.created"] * 5


def test_a_write_at_an_earlier_instant_is_stamped_at_its_own_time():
    # GIVEN a write stamped 25 hours ahead (a flow run at another instant, as a test clock will)
    from tally.clock import Clock
    from tally.store.event_log import sort_stamp

    now = Clock.at(1_900_000_000)
    ahead = sort_stamp(now.later(25 * 3600))
    # WHEN writes follow at the present instant
    first, second = sort_stamp(now), sort_stamp(now)
    # THEN they are stamped at their own time (not after the future one), still strictly in order
    assert first == now.millis and second == first + 1 and ahead > second

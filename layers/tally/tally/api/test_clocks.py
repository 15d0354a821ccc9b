"""/v1/test_helpers/test_clocks: create, retrieve, list, advance, delete (`tally.billing.test_clocks`).

`advance` answers at once with the clock `advancing`; its worker (functions/advance_test_clock)
bills every period it crosses and then sets it `ready` (docs/API.md "Test clocks").
"""

from __future__ import annotations

from typing import Any

from tally.api.http import Request
from tally.api.lists import envelope, list_args, retrieve_params
from tally.api.routing import Routes
from tally.billing import test_clocks
from tally.presenters.test_clocks import clock as present
from tally.presenters.test_clocks import deleted

routes = Routes()
URL = "/v1/test_helpers/test_clocks"


@routes.route(f"POST {URL}")
def create(request: Request) -> dict[str, Any]:
    params = request.params()
    frozen_time = params.int("frozen_time", required=True, min=0, max=test_clocks.MAX_FROZEN_TIME)
    name = params.str("name", max_length=300)
    params.expand()
    params.done()
    assert frozen_time is not None
    return present(test_clocks.create(request.account, frozen_time, name, request.clock))


@routes.route(f"GET {URL}/{{id}}")
def retrieve(request: Request) -> dict[str, Any]:
    retrieve_params(request)
    return present(test_clocks.retrieve(request.account, request.path_params["id"], request.clock))


@routes.route(f"GET {URL}")
def list_(request: Request) -> dict[str, Any]:
    params = request.params()
    window = list_args(params)
    params.done()
    return envelope(URL, test_clocks.list_(request.account, window, request.clock), present)


@routes.route(f"POST {URL}/{{id}}/advance")
def advance(request: Request) -> dict[str, Any]:
    params = request.params()
    frozen_time = params.int("frozen_time", required=True, min=0, max=test_clocks.MAX_FROZEN_TIME)
    params.expand()
    params.done()
    assert frozen_time is not None
    return present(
        test_clocks.advance(request.account, request.path_params["id"], frozen_time, request.clock)
    )


@routes.route(f"DELETE {URL}/{{id}}")
def delete(request: Request) -> dict[str, Any]:
    request.params().done()
    return deleted(test_clocks.delete(request.account, request.path_params["id"], request.clock).id)

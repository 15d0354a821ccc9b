#!/usr/bin/env bash
# Kept in the repository (copied from shared/scripts/seed-walkthrough.sh) so the tests and the README
# need nothing beside the clone; tests/e2e/test_walkthrough.py runs it.
# The seed guide (seeds/002_…) step by step with curl, as a Stripe user would type it, against a
# running Tally. Usage: seed-walkthrough.sh [BASE_URL] [SECRET_KEY]
# Run it on a fresh stack (the event_name must be unused). Expect: the preview invoice bills 25 tokens at 0.04 USD per 100 tokens, rounded up: quantity 1, 4 cents.
set -euo pipefail
BASE=${1:-http://127.0.0.1:${TALLY_PORT:-4242}}
KEY=${2:-${TALLY_API_KEY:?give the secret key as the second argument or TALLY_API_KEY}}
KEY=${KEY%%,*}
# field NAME: print a field of the JSON on stdin; on a Stripe error (or no such field) say so and stop.
field() {
  python3 -c 'import json,sys
d = json.load(sys.stdin)
if "error" in d or sys.argv[1] not in d:
    sys.exit("stopped: " + json.dumps(d.get("error", d))[:300])
print(d[sys.argv[1]])' "$1" || exit 1
}
say() { printf '\n== %s\n' "$*"; }

say "Create a meter"
meter=$(curl -sS "$BASE/v1/billing/meters" -u "$KEY:" \
  -d display_name="Alpaca AI tokens" -d event_name=alpaca_ai_tokens \
  -d "default_aggregation[formula]"=sum -d "customer_mapping[event_payload_key]"=stripe_customer_id \
  -d "customer_mapping[type]"=by_id -d "value_settings[event_payload_key]"=value)
echo "$meter"; METER_ID=$(echo "$meter" | field id)

say "Create a pricing model"
price=$(curl -sS "$BASE/v1/prices" -u "$KEY:" -d currency=usd -d unit_amount=4 -d billing_scheme=per_unit \
  -d "transform_quantity[divide_by]"=100 -d "transform_quantity[round]"=up -d "recurring[usage_type]"=metered \
  -d "recurring[interval]"=month -d "recurring[meter]"="$METER_ID" -d "product_data[name]"="Alpaca AI tokens")
echo "$price"; PRICE_ID=$(echo "$price" | field id)

say "Create a customer"
customer=$(curl -sS "$BASE/v1/customers" -u "$KEY:" -d name="John Doe")
echo "$customer"; CUSTOMER_ID=$(echo "$customer" | field id)

say "Create a subscription"
sub=$(curl -sS "$BASE/v1/subscriptions" -u "$KEY:" -d customer="$CUSTOMER_ID" -d "items[0][price]"="$PRICE_ID")
echo "$sub"; SUBSCRIPTION_ID=$(echo "$sub" | field id)

say "Send a test meter event"
event=$(curl -sS "$BASE/v1/billing/meter_events" -u "$KEY:" -d event_name=alpaca_ai_tokens \
  -d "payload[stripe_customer_id]"="$CUSTOMER_ID" -d "payload[value]"=25)
echo "$event"; echo "$event" | field identifier >/dev/null

say "Create a preview invoice"
preview=$(curl -sS "$BASE/v1/invoices/create_preview" -u "$KEY:" -d subscription="$SUBSCRIPTION_ID")
echo "$preview"
due=$(echo "$preview" | field amount_due)
[ "$due" = 4 ] || { echo "stopped: expected amount_due 4, got $due"; exit 1; }

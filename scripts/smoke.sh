#!/usr/bin/env bash
# The seed's smoke flow with curl: start a plan, add a step, read it back, archive it.
# Uses the server on $PORT if one answers, otherwise starts make run's server for the run and stops it after.
set -euo pipefail
PY=${PY:-.venv/bin/python}
PORT=${PORT:-8000}
BASE="http://127.0.0.1:${PORT}"
ORG=${SMOKE_ORG:-smoke}

started_pid=""
cleanup() { [ -n "$started_pid" ] && kill "$started_pid" 2>/dev/null || true; }
trap cleanup EXIT

if ! curl -fsS -o /dev/null "$BASE/api/schema/" 2>/dev/null; then
  echo "no server on $BASE: starting the server of make run for the smoke run"
  "$PY" -m ops.serve --port "$PORT" >/tmp/aep-smoke-server.log 2>&1 &  # make run's command line
  started_pid=$!
  for _ in $(seq 1 50); do curl -fsS -o /dev/null "$BASE/api/schema/" 2>/dev/null && break; sleep 0.2; done
fi

TOKEN=$("$PY" manage.py create_api_token smoke-user --org "$ORG" 2>/dev/null | tail -n1)
api() { curl -fsS -H "Authorization: Token $TOKEN" -H "X-Org-Id: $ORG" -H 'Content-Type: application/json' "$@"; }
json() { "$PY" -c "import json,sys; print(json.load(sys.stdin)$1)"; }

PLAN=$(api -X POST "$BASE/api/plan/start" -d '{"title":"Smoke plan","participants":["smoke"]}' | json '["plan_id"]')
echo "started plan $PLAN"
api -X POST "$BASE/api/plan/step" -d "{\"plan_id\":\"$PLAN\",\"text\":\"first step\",\"owner\":\"smoke\"}" >/dev/null
STEPS=$(api "$BASE/api/plan/$PLAN" | json '["steps"][0]["text"]')
[ "$STEPS" = "first step" ] || { echo "FAIL: step not read back (got '$STEPS')"; exit 1; }
echo "step read back"
SECOND=$(api -X POST "$BASE/api/plan/step" -d "{\"plan_id\":\"$PLAN\",\"text\":\"second step\"}" | json '["step"]["id"]')
api -X PATCH "$BASE/api/plan/$PLAN/steps/$SECOND" -d '{"done":true}' >/dev/null
api -X POST "$BASE/api/plan/$PLAN/steps/$SECOND/move" -d '{"after":null}' >/dev/null
FIRST=$(api "$BASE/api/plan/$PLAN" | json '["steps"][0]["text"]')
DONE=$(api "$BASE/api/plan/$PLAN" | json '["progress"]["done"]')
[ "$FIRST" = "second step" ] && [ "$DONE" = "1" ] || { echo "FAIL: tick and move not read back ($FIRST, $DONE done)"; exit 1; }
echo "ticked and moved"
NODE=$(api -X POST "$BASE/api/plan/$PLAN/archive" -d '{}' | json '["memory_node_id"]')
echo "archived into memory node $NODE"
CODE=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Token $TOKEN" -H "X-Org-Id: $ORG" \
  -H 'Content-Type: application/json' -X POST "$BASE/api/plan/step" -d "{\"plan_id\":\"$PLAN\",\"text\":\"late\"}")
[ "$CODE" = "409" ] || { echo "FAIL: step on archived plan gave $CODE, expected 409"; exit 1; }
echo "smoke OK"

#!/bin/sh
# One-shot (docker-compose.yml, service temporal-setup, image temporalio/admin-tools):
# once the Temporal server answers, creates the namespace the advances service
# uses (TEMPORAL_NAMESPACE) and registers the search attributes ops filter
# advances by in the Web UI. Each step is skipped when already done, so it is
# safe on every `docker compose up`. The temporal CLI reads TEMPORAL_ADDRESS.
set -eu
: "${TEMPORAL_ADDRESS:?}" "${TEMPORAL_NAMESPACE:?}"
WAIT_SECONDS=240

waited=0
until temporal operator cluster health 2>/dev/null | grep -q SERVING; do
  if [ "$waited" -ge "$WAIT_SECONDS" ]; then
    echo "temporal-setup: Temporal at $TEMPORAL_ADDRESS not serving after ${WAIT_SECONDS}s" >&2
    exit 1
  fi
  sleep 2
  waited=$((waited + 2))
done

if ! temporal operator namespace describe --namespace "$TEMPORAL_NAMESPACE" >/dev/null 2>&1; then
  temporal operator namespace create --namespace "$TEMPORAL_NAMESPACE" --retention 30d
fi
for attribute in AdvanceAccountId AdvanceStatus; do
  if ! temporal operator search-attribute list --namespace "$TEMPORAL_NAMESPACE" | grep -qw "$attribute"; then
    temporal operator search-attribute create --namespace "$TEMPORAL_NAMESPACE" --name "$attribute" --type Keyword
  fi
done
echo "temporal-setup: namespace $TEMPORAL_NAMESPACE ready"

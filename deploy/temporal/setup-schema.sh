#!/bin/sh
# One-shot (docker-compose.yml, service temporal-schema, image temporalio/admin-tools):
# installs Temporal's schema in its two PostgreSQL databases, or upgrades it to
# the one this admin-tools version ships. Safe to run on every `docker compose up`:
# setup-schema only records version 0.0 where nothing is installed yet, and
# update-schema applies only the versions a database does not have.
#
# temporal-sql-tool reads where and how to connect from SQL_PLUGIN, SQL_HOST,
# SQL_PORT, SQL_USER and SQL_PASSWORD (set by the compose service); the
# databases themselves are created by deploy/postgres-init.sql.
set -eu
: "${SQL_PLUGIN:?}" "${SQL_HOST:?}" "${SQL_PORT:?}" "${SQL_USER:?}" "${SQL_PASSWORD:?}"

SCHEMA_DIR=/etc/temporal/schema/postgresql/v12
for database in temporal visibility; do
  name=$database
  [ "$database" = visibility ] && name=temporal_visibility
  echo "temporal-schema: $name"
  temporal-sql-tool --db "$name" setup-schema -v 0.0
  temporal-sql-tool --db "$name" update-schema -d "$SCHEMA_DIR/$database/versioned"
done
echo "temporal-schema: up to date"

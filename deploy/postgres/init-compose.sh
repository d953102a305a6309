#!/bin/sh
# Postgres image's first start (docker-entrypoint-initdb.d): deploy/postgres/ferry.sql with the
# passwords compose passes in. Runs once, on an empty data volume.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v owner_password="$FERRY_PG_OWNER_PASSWORD" -v app_password="$FERRY_PG_APP_PASSWORD" \
  -f /opt/ferry/ferry.sql

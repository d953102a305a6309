-- Ferry's Postgres database and roles. Run once, as a superuser (or a role with CREATEROLE and
-- CREATEDB), with psql:
--
--   psql -h DBHOST -U postgres -v owner_password="$(openssl rand -hex 24)" \
--        -v app_password="$(openssl rand -hex 24)" -f deploy/postgres/ferry.sql
--
-- Names can be changed with -v owner=... -v app=... -v db=... (defaults: ferry, ferry_app, ferry).
--
-- Two roles, neither superuser:
--   ferry      owns the database and its schema; migrations run as it, once per upgrade:
--                FERRY_DATABASE_URL=postgres://ferry:OWNER_PASSWORD@DBHOST/ferry ferry migrate
--   ferry_app  what the running processes log in as (FERRY_DATABASE_URL in /etc/ferry/ferry.env,
--              FERRY_MIGRATE_ON_START=false): read and write rows, nothing else. A flaw in the
--              running service cannot drop or alter a table.
-- Every table a migration creates is granted to ferry_app by the default privileges below, so
-- no grant needs to follow an upgrade. For a single role instead, log in as `ferry` everywhere
-- (then FERRY_MIGRATE_ON_START=true works too).

\set ON_ERROR_STOP on
\if :{?owner}
\else
  \set owner ferry
\endif
\if :{?app}
\else
  \set app ferry_app
\endif
\if :{?db}
\else
  \set db ferry
\endif
\if :{?owner_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'ferry.sql: give both passwords: psql -v owner_password=... -v app_password=... -f ferry.sql'; END $$;
\endif
\if :{?app_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'ferry.sql: give both passwords: psql -v owner_password=... -v app_password=... -f ferry.sql'; END $$;
\endif

CREATE ROLE :"owner" LOGIN PASSWORD :'owner_password' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
CREATE ROLE :"app" LOGIN PASSWORD :'app_password' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
-- Each api and worker holds a pool of connections (10 by default); leave room for `ferry migrate`
-- and `ferry replay`. Raise with the number of processes.
ALTER ROLE :"app" CONNECTION LIMIT 200;

-- UTF-8 whatever the server's default: event data is stored as JSON text.
CREATE DATABASE :"db" OWNER :"owner" ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"app";

\connect :"db"
-- Ferry's tables live in public. Only the owner creates there (Postgres 15 already revokes
-- CREATE from PUBLIC; older versions do not, and their public schema belongs to postgres).
ALTER SCHEMA public OWNER TO :"owner";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app";
-- Tables and sequences the owner creates from now on (every migration) are readable and
-- writable by the runtime role; migrations are the owner's alone.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO :"app";
-- And any that exist already (this file run again on a migrated database, e.g. after adding the
-- runtime role to an install that used one role).
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app";
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO :"app";

/**
 * Postgres (FERRY_DATABASE_URL): reached with its credentials, its version, the schema against
 * the migrations this Ferry knows, enough privileges on Ferry's tables, and its clock.
 */
import pg from "pg";
import type { Config } from "../config.js";
import { redact } from "../backend-error.js";
import { STORE_MIGRATIONS, appliedVersions, reason } from "../store/postgres-migrations.js";
import { CHECK_TIMEOUT_MS, fail, ok, skip, warn, within, type Report } from "./check.js";
import { skewFinding } from "./clock.js";

/** The tables every process writes; without these privileges start-up works and ingest fails. */
const KEY_TABLES = ["postbacks", "attempts", "endpoints", "accounts", "tokens", "destinations", "events", "idempotency_keys"];
const DEPENDENT = ["postgres.schema", "postgres.privileges", "clock.postgres"];

export async function checkPostgres(config: Config, report: Report): Promise<void> {
  const url = config.database_url;
  if (!url) {
    report(skip("postgres", "not used: FERRY_DATABASE_URL is not set, the store is the SQLite file"));
    return;
  }
  const where = redact(url);
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: CHECK_TIMEOUT_MS, query_timeout: CHECK_TIMEOUT_MS, application_name: "ferry doctor" });
  client.on("error", () => {}); // reported by the query in flight
  try {
    let version: string;
    let user: string;
    try {
      await within(`connecting to Postgres at ${where}`, client.connect());
      ({ version, user } = (await within("SHOW server_version", client.query<{ version: string; user: string }>("SELECT current_setting('server_version') AS version, current_user AS user"))).rows[0]!);
    } catch (err) {
      const { message, fix } = describeConnectError(url, err);
      report(fail("postgres", `FERRY_DATABASE_URL: cannot connect to ${where}: ${message}`, fix));
      for (const name of DEPENDENT) report(skip(name, "not checked: Postgres cannot be reached"));
      return;
    }
    report(ok("postgres", `reached ${where} as ${user}, Postgres ${version}`));

    // Each step on its own: one that fails (a timeout, a missing grant) is that check's failure,
    // and the next still runs.
    const step = async (name: string, fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (err) {
        const denied = (err as { code?: string }).code === "42501";
        report(fail(name, `${denied ? "permission denied" : "query failed"}: ${reason(url, err)}`, denied ? `grant ${user} what Ferry needs (see the Postgres role in deploy/), or run as the owner` : "check the server's log and load"));
      }
    };
    await step("postgres.schema", async () => {
      const known = STORE_MIGRATIONS.length;
      const applied = await within("reading ferry_migrations", appliedVersions(client));
      const newest = applied.length ? Math.max(...applied) : 0;
      const missing = STORE_MIGRATIONS.map((_, i) => i + 1).filter((v) => !applied.includes(v));
      if (newest > known) {
        report(fail("postgres.schema", `schema version ${newest}, newer than this Ferry knows (${known}): a newer Ferry migrated it`, "run the newer Ferry version here too"));
      } else if (missing.length > 0) {
        const text = `schema at version ${applied.length ? newest : "none"} of ${known} (${missing.length} migration${missing.length === 1 ? "" : "s"} pending)`;
        if (config.migrate_on_start) report(warn("postgres.schema", `${text}; FERRY_MIGRATE_ON_START=true applies them at the next start`, "nothing, or run `ferry migrate` now"));
        else report(fail("postgres.schema", `${text}: Ferry refuses to start on it`, "run `ferry migrate` with the same FERRY_DATABASE_URL (or set FERRY_MIGRATE_ON_START=true)"));
      } else {
        report(ok("postgres.schema", `schema at version ${known}, the newest this Ferry knows`));
      }
    });

    await step("postgres.privileges", async () => {
      const tables = (await within("to_regclass", client.query<{ n: number }>("SELECT count(*)::int AS n FROM unnest($1::text[]) AS t WHERE to_regclass(t) IS NOT NULL", [KEY_TABLES]))).rows[0]!.n;
      if (tables === 0) {
        // No tables yet: what matters is whether `ferry migrate` may create them.
        const { rows } = await within("has_schema_privilege", client.query<{ create: boolean }>("SELECT has_schema_privilege(current_user, current_schema(), 'CREATE') AS create"));
        if (rows[0]?.create) report(ok("postgres.privileges", `${user} may create tables (for ferry migrate)`));
        else report(fail("postgres.privileges", `${user} may not create tables in the current schema, so ferry migrate cannot run as it`, `GRANT CREATE ON SCHEMA public TO ${user}, or migrate as the owner`));
        return;
      }
      const { rows } = await within(
        "has_table_privilege",
        client.query<{ t: string; ok: boolean }>(
          // One privilege per call: given a list, has_table_privilege is true when *any* is held.
          `SELECT t, to_regclass(t) IS NOT NULL AND ${["SELECT", "INSERT", "UPDATE", "DELETE"].map((p) => `has_table_privilege(current_user, t, '${p}')`).join(" AND ")} AS ok FROM unnest($1::text[]) AS t`,
          [[...KEY_TABLES, "ferry_migrations"]],
        ),
      );
      // ferry_migrations only needs reading (start-up checks the version); the rest writing.
      const lacking = rows.filter((r) => !r.ok && r.t !== "ferry_migrations").map((r) => r.t);
      if (lacking.length === 0) report(ok("postgres.privileges", `${user} may read and write Ferry's tables`));
      else report(fail("postgres.privileges", `${user} lacks SELECT, INSERT, UPDATE or DELETE on ${lacking.join(", ")}`, `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${user}`));
    });

    await step("clock.postgres", async () => {
      const sentAt = Date.now();
      const { rows } = await within("clock_timestamp()", client.query<{ ms: number }>("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms"));
      const receivedAt = Date.now();
      report(skewFinding("clock.postgres", "Postgres", Number(rows[0]!.ms), sentAt, receivedAt, config));
    });
  } finally {
    void client.end().catch(() => {});
  }
}

function describeConnectError(url: string, err: unknown): { message: string; fix: string } {
  const code = (err as { code?: string }).code;
  const text = reason(url, err);
  switch (code) {
    case "28P01":
      return { message: `the password is wrong (${text})`, fix: "correct the password in FERRY_DATABASE_URL" };
    case "28000":
      return { message: `the server refuses this user (${text})`, fix: "create the role, or correct the user in FERRY_DATABASE_URL, or allow it in pg_hba.conf" };
    case "3D000":
      return { message: `the database does not exist (${text})`, fix: "create it (createdb), or correct the database name in FERRY_DATABASE_URL" };
    case "ECONNREFUSED":
      return { message: `nothing is listening there (${text})`, fix: "start Postgres, or correct the host and port in FERRY_DATABASE_URL" };
  }
  if (/timeout|no answer/i.test(text)) return { message: `no answer within ${CHECK_TIMEOUT_MS} ms (${text})`, fix: "check that Postgres runs and that a firewall lets this host reach its port" };
  return { message: text, fix: "check the server's log; try psql with the same URL" };
}

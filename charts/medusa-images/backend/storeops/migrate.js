#!/usr/bin/env node
// storeops-migrate: runs `medusa db:migrate` once at a time per database.
//
// Every API server pod runs it before it starts (an init container), and the
// chart's migration Job runs it before an upgrade, so with two replicas or a
// Job beside a rolling pod several would migrate at once and race. Each first
// takes a PostgreSQL session advisory lock; the others wait, then find
// nothing left to do. The lock is the connection's: it goes when this process
// dies, however it dies.
//
// It waits for PostgreSQL (MIGRATE_WAIT_SECONDS, default 600) instead of
// failing while the database starts.
"use strict"
const { spawn } = require("child_process")
const { readFileSync } = require("fs")
const { Client } = require("pg")

// Any constant: the lock's key, shared by every storeops migration.
const LOCK_KEY = "7305761171069271"

function env(name, fallback) {
  const v = process.env[name]
  if (v) return v
  if (fallback !== undefined) return fallback
  throw new Error(`${name} must be set`)
}

function log(msg) {
  process.stderr.write(`storeops-migrate: ${msg}\n`)
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function connect() {
  const deadline = Date.now() + Number(env("MIGRATE_WAIT_SECONDS", "600")) * 1000
  const interval = Number(env("MIGRATE_RETRY_MS", "5000"))
  for (;;) {
    const client = new Client({
      host: env("POSTGRES_HOST"),
      port: Number(env("POSTGRES_PORT", "5432")),
      user: env("POSTGRES_USER"),
      database: env("POSTGRES_DB"),
      password: readFileSync(env("POSTGRES_PASSWORD_FILE"), "utf8").replace(/[\r\n]+$/, ""),
      ssl: false,
    })
    try {
      await client.connect()
      return client
    } catch (err) {
      try { await client.end() } catch (_) { /* never connected */ }
      if (Date.now() >= deadline) throw err
      log(`database not reachable yet (${err.message}); retrying`)
      await sleep(interval)
    }
  }
}

function run(cmd, args) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: "inherit" })
    child.on("error", (err) => { log(`${cmd}: ${err.message}`); resolve(127) })
    child.on("exit", (code, signal) => resolve(code === null ? 128 : code))
  })
}

async function main() {
  const client = await connect()
  log("waiting for the migration lock")
  await client.query("SELECT pg_advisory_lock($1)", [LOCK_KEY])
  log("lock taken: migrating")
  // The image has node but no npm (no npx): the CLI is on PATH
  // (node_modules/.bin).
  const code = await run(env("MEDUSA_CLI", "medusa"), ["db:migrate"])
  await client.query("SELECT pg_advisory_unlock($1)", [LOCK_KEY])
  await client.end()
  log(code === 0 ? "migrated" : `medusa db:migrate failed with status ${code}`)
  return code
}

main().then((code) => process.exit(code), (err) => { log(err.stack || String(err)); process.exit(1) })

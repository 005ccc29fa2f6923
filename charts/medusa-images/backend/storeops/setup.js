#!/usr/bin/env node
// storeops-setup: waits until the API server answers /health (so the schema
// is migrated and the server's defaults exist), then runs the idempotent
// setup script with `medusa exec`. The chart's setup Job runs it; whether
// that Job is a Helm hook or an ordinary resource, it may start before the
// server is up, so it waits (SETUP_WAIT_SECONDS, default 1200) instead of
// burning its retries.
"use strict"
const { spawn } = require("child_process")

function env(name, fallback) {
  const v = process.env[name]
  if (v) return v
  if (fallback !== undefined) return fallback
  throw new Error(`${name} must be set`)
}

function log(msg) {
  process.stderr.write(`storeops-setup: ${msg}\n`)
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function healthy(url) {
  const ctl = new AbortController()
  const timer = setTimeout(() => ctl.abort(), 5000)
  try {
    const res = await fetch(url, { signal: ctl.signal })
    return res.status === 200 ? "" : `status ${res.status}`
  } catch (err) {
    return err.message
  } finally {
    clearTimeout(timer)
  }
}

function run(cmd, args) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: "inherit" })
    child.on("error", (err) => { log(`${cmd}: ${err.message}`); resolve(127) })
    child.on("exit", (code) => resolve(code === null ? 128 : code))
  })
}

async function main() {
  const url = env("MEDUSA_SERVER_URL").replace(/\/+$/, "") + "/health"
  const deadline = Date.now() + Number(env("SETUP_WAIT_SECONDS", "1200")) * 1000
  const interval = Number(env("SETUP_RETRY_MS", "5000"))
  for (;;) {
    const why = await healthy(url)
    if (why === "") break
    if (Date.now() >= deadline) {
      log(`${url} not healthy in time (${why})`)
      return 1
    }
    log(`waiting for ${url} (${why})`)
    await sleep(interval)
  }
  log("server healthy: running setup")
  // The image has node but no npm (no npx): the CLI is on PATH
  // (node_modules/.bin).
  return run(env("MEDUSA_CLI", "medusa"), ["exec", "./src/scripts/storeops-setup.js"])
}

main().then((code) => process.exit(code), (err) => { log(err.stack || String(err)); process.exit(1) })

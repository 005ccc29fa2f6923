// Medusa configuration for storeops stores. Unlike the starter's, it never
// falls back to default secrets: a missing secret stops the process. Redis
// backs the event bus, cache, locking and workflow engine so the server and
// the worker share state.
//
// Credentials come from files (the chart mounts the store's Secret), never
// from environment variables or command lines: POSTGRES_PASSWORD_FILE,
// REDIS_PASSWORD_FILE, JWT_SECRET_FILE and COOKIE_SECRET_FILE. JWT_SECRET and
// COOKIE_SECRET may be given directly instead (for local runs).
//
// `medusa build` loads this file too, without any of that: with
// MEDUSA_BUILD=true it uses placeholders, so that the admin build sees a
// loadable configuration (otherwise it fails inside the build, which logs the
// error and still succeeds, and the server later finds no admin).
import { loadEnv, defineConfig } from "@medusajs/framework/utils"
import { readFileSync } from "fs"

loadEnv(process.env.NODE_ENV || "production", process.cwd())

const building = process.env.MEDUSA_BUILD === "true"

// secret reads NAME_FILE, or NAME; "supersecret" and empty values are refused.
function secret(name: string): string {
  if (building) {
    return `build-placeholder-${name.toLowerCase()}`
  }
  const file = process.env[`${name}_FILE`]
  const value = file ? readFileSync(file, "utf8").replace(/[\r\n]+$/, "") : process.env[name]
  if (!value || value === "supersecret") {
    throw new Error(`${name}_FILE (or ${name}) must give a secret value`)
  }
  return value
}

function required(name: string, placeholder: string): string {
  const value = process.env[name]
  if (building) {
    return value || placeholder
  }
  if (!value) {
    throw new Error(`${name} must be set`)
  }
  return value
}

// The store's public origin (https://shop.example.com); cookies are Secure
// exactly when it is https, so that a store served over plain HTTP (the
// local default) can still log in.
const publicUrl = required("MEDUSA_BACKEND_URL", "http://localhost:9000")
const secureCookies = publicUrl.startsWith("https://")

// Medusa v2 ignores libpq's sslmode: it turns SSL off only for localhost or
// with ssl_mode=disable in the URL (load-module-database-config). Both the
// URL and the driver options say so, for the main connection and for every
// module's.
const pgHost = required("POSTGRES_HOST", "localhost")
const pgPort = process.env.POSTGRES_PORT || "5432"
const pgUser = required("POSTGRES_USER", "medusa")
const pgDatabase = required("POSTGRES_DB", "medusa")
const databaseUrl =
  `postgres://${encodeURIComponent(pgUser)}:${encodeURIComponent(secret("POSTGRES_PASSWORD"))}` +
  `@${pgHost}:${pgPort}/${encodeURIComponent(pgDatabase)}?ssl_mode=disable`

const redisUrl =
  `redis://:${encodeURIComponent(secret("REDIS_PASSWORD"))}` +
  `@${required("REDIS_HOST", "localhost")}:${process.env.REDIS_PORT || "6379"}`

// Uploads: the local file provider writes to ./static (a volume in the
// chart) and links files with the store's public URL; the server serves that
// directory at /static.

module.exports = defineConfig({
  projectConfig: {
    databaseUrl,
    databaseDriverOptions: { connection: { ssl: false } },
    redisUrl,
    workerMode: (process.env.MEDUSA_WORKER_MODE || "shared") as "shared" | "worker" | "server",
    cookieOptions: { secure: secureCookies, sameSite: "lax" },
    http: {
      storeCors: required("STORE_CORS", publicUrl),
      adminCors: required("ADMIN_CORS", publicUrl),
      authCors: required("AUTH_CORS", publicUrl),
      jwtSecret: secret("JWT_SECRET"),
      cookieSecret: secret("COOKIE_SECRET"),
    },
  },
  admin: {
    disable: process.env.DISABLE_MEDUSA_ADMIN === "true",
    // The admin UI is compiled once for every store and served on the
    // store's own origin (/app), so it calls the API on that same origin.
    backendUrl: "/",
  },
  modules: [
    {
      resolve: "@medusajs/medusa/cache-redis",
      options: { redisUrl },
    },
    {
      resolve: "@medusajs/medusa/event-bus-redis",
      options: { redisUrl },
    },
    {
      resolve: "@medusajs/medusa/workflow-engine-redis",
      options: { redis: { url: redisUrl } },
    },
    {
      resolve: "@medusajs/medusa/file",
      options: {
        providers: [
          {
            resolve: "@medusajs/medusa/file-local",
            id: "local",
            options: { upload_dir: "static", backend_url: `${publicUrl}/static` },
          },
        ],
      },
    },
  ],
})

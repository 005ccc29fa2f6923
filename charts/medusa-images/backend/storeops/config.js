// storeops/config.js: the settings of medusa-config.ts, in plain JavaScript
// so that they can be tested without a TypeScript toolchain
// (charts/scripts_test.go runs them with node).
//
// Credentials come from files (the chart mounts the store's Secret), never
// from environment variables or command lines: POSTGRES_PASSWORD_FILE,
// REDIS_PASSWORD_FILE, JWT_SECRET_FILE and COOKIE_SECRET_FILE. JWT_SECRET and
// COOKIE_SECRET may be given directly instead (for local runs). Missing,
// empty or "supersecret" secrets stop the process: the starter's config
// silently falls back to "supersecret".
//
// `medusa build` loads the configuration too, without any of that: with
// MEDUSA_BUILD=true placeholders are used, so that the admin build sees a
// loadable configuration (otherwise it fails inside the build, which logs
// the error and still succeeds, and the server later finds no admin).
"use strict"
const { readFileSync } = require("fs")

function settings(env = process.env) {
  const building = env.MEDUSA_BUILD === "true"

  // secret reads NAME_FILE, or NAME.
  function secret(name) {
    if (building) return `build-placeholder-${name.toLowerCase()}`
    const file = env[`${name}_FILE`]
    const value = file ? readFileSync(file, "utf8").replace(/[\r\n]+$/, "") : env[name]
    if (!value || value === "supersecret") {
      throw new Error(`${name}_FILE (or ${name}) must give a secret value`)
    }
    return value
  }

  function required(name, placeholder) {
    const value = env[name]
    if (building) return value || placeholder
    if (!value) throw new Error(`${name} must be set`)
    return value
  }

  // The store's public origin (https://shop.example.com); cookies are Secure
  // exactly when it is https, so that a store served over plain HTTP (the
  // local default) can still log in.
  const publicUrl = required("MEDUSA_BACKEND_URL", "http://localhost:9000").replace(/\/+$/, "")
  const secureCookies = publicUrl.startsWith("https://")

  // Medusa v2 ignores libpq's sslmode: it turns SSL off only for localhost or
  // with ssl_mode=disable in the URL (load-module-database-config). Both the
  // URL and the driver options say so (PostgreSQL runs in the store's
  // namespace, without TLS).
  const pg = {
    host: required("POSTGRES_HOST", "localhost"),
    port: env.POSTGRES_PORT || "5432",
    user: required("POSTGRES_USER", "medusa"),
    database: required("POSTGRES_DB", "medusa"),
    password: secret("POSTGRES_PASSWORD"),
  }
  const databaseUrl =
    `postgres://${encodeURIComponent(pg.user)}:${encodeURIComponent(pg.password)}` +
    `@${pg.host}:${pg.port}/${encodeURIComponent(pg.database)}?ssl_mode=disable`
  const redisUrl =
    `redis://:${encodeURIComponent(secret("REDIS_PASSWORD"))}` +
    `@${required("REDIS_HOST", "localhost")}:${env.REDIS_PORT || "6379"}`

  return {
    projectConfig: {
      databaseUrl,
      databaseDriverOptions: { connection: { ssl: false } },
      redisUrl,
      workerMode: env.MEDUSA_WORKER_MODE || "shared",
      // Read by Medusa releases that have projectConfig.cookieOptions; 2.8
      // does not, and src/api/middlewares.ts makes the session cookie
      // follow the scheme there.
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
      disable: env.DISABLE_MEDUSA_ADMIN === "true",
      // The admin UI is compiled once for every store and served on the
      // store's own origin (/app), so it calls the API on that same origin.
      backendUrl: "/",
    },
    modules: [
      { resolve: "@medusajs/medusa/cache-redis", options: { redisUrl } },
      { resolve: "@medusajs/medusa/event-bus-redis", options: { redisUrl } },
      { resolve: "@medusajs/medusa/workflow-engine-redis", options: { redis: { url: redisUrl } } },
      {
        // Uploads: the local file provider writes to ./static (a volume in
        // the chart), served by the API server at /static, and links files
        // with the store's public URL.
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
  }
}

module.exports = { settings }

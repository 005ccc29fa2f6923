// Medusa configuration for storeops stores. Unlike the starter's, it never
// falls back to default secrets: a missing JWT_SECRET or COOKIE_SECRET stops
// the process. Redis backs the event bus, cache and workflow engine
// so the server and the worker share state.
import { loadEnv, defineConfig } from "@medusajs/framework/utils"

loadEnv(process.env.NODE_ENV || "production", process.cwd())

function required(name: string): string {
  const value = process.env[name]
  if (!value || value === "supersecret") {
    throw new Error(`${name} must be set to a secret value`)
  }
  return value
}

const redisUrl = required("REDIS_URL")

module.exports = defineConfig({
  projectConfig: {
    databaseUrl: required("DATABASE_URL"),
    redisUrl,
    workerMode: (process.env.MEDUSA_WORKER_MODE || "shared") as "shared" | "worker" | "server",
    http: {
      storeCors: required("STORE_CORS"),
      adminCors: required("ADMIN_CORS"),
      authCors: required("AUTH_CORS"),
      jwtSecret: required("JWT_SECRET"),
      cookieSecret: required("COOKIE_SECRET"),
    },
  },
  admin: {
    disable: process.env.DISABLE_MEDUSA_ADMIN === "true",
    backendUrl: process.env.MEDUSA_BACKEND_URL,
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
  ],
})

// Medusa configuration for storeops stores. The settings are in
// storeops/config.js (plain JavaScript, tested without a TypeScript
// toolchain): secrets from *_FILE files and never a default, the database
// URL in the form Medusa reads (ssl_mode=disable) with SSL off in the driver
// options, Redis for the cache, event bus and workflow engine so the server
// and the worker share state, uploads on a volume with the public URL, and
// cookies Secure exactly for https stores. MEDUSA_BUILD=true (the image
// build) loads placeholders.
import { loadEnv, defineConfig } from "@medusajs/framework/utils"

loadEnv(process.env.NODE_ENV || "production", process.cwd())

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { settings } = require("./storeops/config")

module.exports = defineConfig(settings())

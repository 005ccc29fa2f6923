#!/usr/bin/env node
// patch-starter: the storefront image build's edits to the Next.js starter,
// each checked, so that a starter that no longer matches fails the build
// instead of shipping unpatched. Usage: node patch-starter.js <starter dir>
//
// 1. generateStaticParams of every page (collections, categories, products)
//    calls the backend while `next build` runs, with no error handling: with
//    no backend (an image is built once for every store) the build dies. Each
//    is wrapped so that a failed call renders no page at build time; the
//    pages then render on request (dynamicParams stays true).
// 2. The starter's cookies (cart, customer token) are Secure whenever
//    NODE_ENV is production, which `next start` always is: over plain HTTP
//    the browser drops them and no cart survives a page. They are Secure when
//    the store is served over https (STOREOPS_SECURE_COOKIES=true, set by the
//    chart from the store's URL).
// 3. It adds /api/storeops-health, the chart's readiness probe: 200 when the
//    API server's /health answers 200 from the Next.js server, 503 otherwise.
"use strict"
const fs = require("fs")
const path = require("path")

function walk(dir, out = []) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) {
      if (e.name !== "node_modules") walk(p, out)
    } else if (/\.(tsx?|jsx?)$/.test(e.name)) {
      out.push(p)
    }
  }
  return out
}

const STATIC_PARAMS = /export\s+async\s+function\s+generateStaticParams\s*\(/
const SECURE = /secure:\s*process\.env\.NODE_ENV\s*===\s*["']production["']/g

const HEALTH_ROUTE = `// Added by storeops (patch-starter.js): the readiness probe of the chart.
export const dynamic = "force-dynamic"

export async function GET() {
  const base = process.env.MEDUSA_BACKEND_URL || "http://localhost:9000"
  try {
    const res = await fetch(\`\${base}/health\`, { cache: "no-store", signal: AbortSignal.timeout(4000) })
    return new Response(res.ok ? "ok" : \`backend answered \${res.status}\`, { status: res.ok ? 200 : 503 })
  } catch (err) {
    return new Response("backend unreachable", { status: 503 })
  }
}
`

function patch(root) {
  const src = path.join(root, "src")
  const wrapped = []
  const secured = []
  for (const file of walk(src)) {
    let text = fs.readFileSync(file, "utf8")
    let changed = false
    if (STATIC_PARAMS.test(text)) {
      text = text.replace(STATIC_PARAMS, "async function storeopsGenerateStaticParams(")
      text +=
        "\n// storeops: a build without a reachable backend renders these pages on request.\n" +
        "export async function generateStaticParams(...args: any[]) {\n" +
        "  try {\n" +
        "    return await (storeopsGenerateStaticParams as any)(...args)\n" +
        "  } catch (err) {\n" +
        "    console.warn(`generateStaticParams: ${err}; pages render on request`)\n" +
        "    return []\n" +
        "  }\n" +
        "}\n"
      wrapped.push(path.relative(root, file))
      changed = true
    }
    if (SECURE.test(text)) {
      text = text.replace(SECURE, 'secure: process.env.STOREOPS_SECURE_COOKIES === "true"')
      secured.push(path.relative(root, file))
      changed = true
    }
    if (changed) fs.writeFileSync(file, text)
  }
  const missing = []
  for (const page of ["collections", "categories"]) {
    if (!wrapped.some((f) => f.includes(`${path.sep}${page}${path.sep}`))) missing.push(`generateStaticParams of ${page}`)
  }
  if (secured.length === 0) missing.push("cookie option secure: process.env.NODE_ENV === \"production\"")
  // The health route must not go through the region middleware (which
  // redirects to /<country>/...): its matcher has to leave /api alone.
  const middleware = path.join(src, "middleware.ts")
  if (!fs.existsSync(middleware) || !/\(\?!api\b/.test(fs.readFileSync(middleware, "utf8"))) {
    missing.push("a middleware matcher that skips /api (src/middleware.ts)")
  }
  if (missing.length > 0) {
    throw new Error(`the starter does not look as expected; not found: ${missing.join("; ")}`)
  }
  const health = path.join(src, "app", "api", "storeops-health", "route.ts")
  fs.mkdirSync(path.dirname(health), { recursive: true })
  fs.writeFileSync(health, HEALTH_ROUTE)
  return { wrapped, secured, health: path.relative(root, health) }
}

if (require.main === module) {
  try {
    const { wrapped, secured } = patch(process.argv[2] || ".")
    console.log(`patch-starter: wrapped generateStaticParams in ${wrapped.join(", ")}`)
    console.log(`patch-starter: cookies follow the scheme in ${secured.join(", ")}`)
  } catch (err) {
    console.error(`patch-starter: ${err.message}`)
    process.exit(1)
  }
}

module.exports = { patch }

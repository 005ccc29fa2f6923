// A small storefront on the Medusa JS SDK, for storeops' medusa chart where
// the official Next.js starter cannot be built: the product list, a product
// page with "Add to cart", and the cart. It renders HTML on the server (no
// client JavaScript) and takes the chart's storefront environment:
//
//   PORT                                     port (default 8000)
//   MEDUSA_BACKEND_URL                       the API server, inside the cluster
//   NEXT_PUBLIC_MEDUSA_PUBLISHABLE_KEY_FILE  the publishable key (a file of
//                                            the store's Secret), or
//   NEXT_PUBLIC_MEDUSA_PUBLISHABLE_KEY
//   NEXT_PUBLIC_BASE_URL                     the store's public URL: the cart
//                                            cookie is Secure exactly for https
//   NEXT_PUBLIC_DEFAULT_REGION               a country code of the region to sell in
//
// GET /api/storeops-health answers 200 when the API server's /health does,
// 503 otherwise (the chart's readiness probe).
"use strict"
const http = require("http")
const { readFileSync } = require("fs")
const Medusa = require("@medusajs/js-sdk").default

function env(name, fallback) {
  const v = process.env[name]
  if (v) return v
  if (fallback !== undefined) return fallback
  console.error(`storefront: ${name} must be set`)
  process.exit(64)
}

const backend = env("MEDUSA_BACKEND_URL").replace(/\/+$/, "")
const keyFile = process.env.NEXT_PUBLIC_MEDUSA_PUBLISHABLE_KEY_FILE
const publishableKey = (keyFile ? readFileSync(keyFile, "utf8") : env("NEXT_PUBLIC_MEDUSA_PUBLISHABLE_KEY")).trim()
if (!publishableKey.startsWith("pk_")) {
  console.error("storefront: the publishable key is not one (pk_...)")
  process.exit(64)
}
const secure = env("NEXT_PUBLIC_BASE_URL").startsWith("https://")
const country = env("NEXT_PUBLIC_DEFAULT_REGION", "dk").toLowerCase()
const port = Number(env("PORT", "8000"))
const cartCookie = "_medusa_cart_id"

const sdk = new Medusa({ baseUrl: backend, publishableKey })

const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

function money(amount, currency) {
  if (amount === undefined || amount === null) return ""
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency: currency.toUpperCase() }).format(amount)
  } catch (_) {
    return `${amount} ${currency}`
  }
}

function page(title, body) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:960px;margin:2rem auto;padding:0 1rem}
ul.products{list-style:none;padding:0;display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:1rem}
ul.products li{border:1px solid #ddd;border-radius:8px;padding:1rem}
header{display:flex;justify-content:space-between;align-items:center}</style></head>
<body><header><a href="/"><strong>Store</strong></a><a id="cart-link" href="/cart">Cart</a></header>
<h1>${esc(title)}</h1>
${body}
</body></html>`
}

// region is the region holding the default country (cached a minute).
let regionCache = { at: 0, region: null }
async function region() {
  if (regionCache.region && Date.now() - regionCache.at < 60000) return regionCache.region
  const { regions } = await sdk.store.region.list({ fields: "id,name,currency_code,*countries" })
  const r = regions.find((r) => (r.countries || []).some((c) => c.iso_2 === country)) || regions[0]
  if (!r) throw new Error("the store has no region")
  regionCache = { at: Date.now(), region: r }
  return r
}

const priceOf = (variant) => variant?.calculated_price?.calculated_amount

async function products(query) {
  const r = await region()
  const { products } = await sdk.store.product.list({
    region_id: r.id,
    fields: "id,title,handle,description,*variants,*variants.calculated_price",
    limit: 50,
    ...query,
  })
  return { r, products }
}

function cookies(req) {
  const out = {}
  for (const part of (req.headers.cookie || "").split(";")) {
    const i = part.indexOf("=")
    if (i > 0) out[part.slice(0, i).trim()] = decodeURIComponent(part.slice(i + 1).trim())
  }
  return out
}

function body(req) {
  return new Promise((resolve, reject) => {
    let data = ""
    req.on("data", (c) => {
      data += c
      if (data.length > 65536) reject(new Error("request body too large"))
    })
    req.on("end", () => resolve(new URLSearchParams(data)))
    req.on("error", reject)
  })
}

function send(res, status, html, headers = {}) {
  res.writeHead(status, { "Content-Type": "text/html; charset=utf-8", ...headers })
  res.end(html)
}

const routes = {
  async "GET /api/storeops-health"(req, res) {
    const ctl = new AbortController()
    const timer = setTimeout(() => ctl.abort(), 5000)
    try {
      const r = await fetch(`${backend}/health`, { signal: ctl.signal })
      res.writeHead(r.status === 200 ? 200 : 503, { "Content-Type": "text/plain" }).end(r.status === 200 ? "OK" : `backend ${r.status}`)
    } catch (err) {
      res.writeHead(503, { "Content-Type": "text/plain" }).end(`backend: ${err.message}`)
    } finally {
      clearTimeout(timer)
    }
  },

  async "GET /"(req, res) {
    const { r, products: list } = await products({})
    const items = list.map((p) => `<li class="product"><a href="/products/${encodeURIComponent(p.handle)}">${esc(p.title)}</a>
<p>${esc(money(priceOf(p.variants?.[0]), r.currency_code))}</p></li>`)
    send(res, 200, page("Products", `<ul class="products">${items.join("\n")}</ul>`))
  },

  async "GET /products/*"(req, res, handle) {
    const { r, products: [p] } = await products({ handle })
    if (!p) return send(res, 404, page("Not found", "<p>No such product.</p>"))
    const options = (p.variants || []).map((v) => `<option value="${esc(v.id)}">${esc(v.title)} (${esc(money(priceOf(v), r.currency_code))})</option>`)
    send(res, 200, page(p.title, `<p>${esc(p.description)}</p>
<form method="post" action="/cart/line-items">
<select name="variant_id" id="variant">${options.join("")}</select>
<button type="submit" id="add-to-cart">Add to cart</button>
</form>`))
  },

  async "POST /cart/line-items"(req, res) {
    const form = await body(req)
    const variant = form.get("variant_id")
    if (!variant) return send(res, 400, page("Cart", "<p>No variant chosen.</p>"))
    let id = cookies(req)[cartCookie]
    let cart = null
    if (id) {
      cart = await sdk.store.cart.retrieve(id).then((r) => r.cart, () => null)
    }
    if (!cart || cart.completed_at) {
      const r = await region()
      ;({ cart } = await sdk.store.cart.create({ region_id: r.id }))
      id = cart.id
    }
    await sdk.store.cart.createLineItem(id, { variant_id: variant, quantity: 1 })
    const cookie = `${cartCookie}=${encodeURIComponent(id)}; Path=/; HttpOnly; SameSite=Lax; Max-Age=604800${secure ? "; Secure" : ""}`
    res.writeHead(303, { Location: "/cart", "Set-Cookie": cookie }).end()
  },

  async "GET /cart"(req, res) {
    const id = cookies(req)[cartCookie]
    const cart = id ? await sdk.store.cart.retrieve(id).then((r) => r.cart, () => null) : null
    const items = cart?.items || []
    if (items.length === 0) return send(res, 200, page("Cart", `<p id="empty-cart">Your cart is empty.</p>`))
    const rows = items.map((i) => `<li class="line-item"><span class="title">${esc(i.product_title || i.title)}</span>
(<span class="variant">${esc(i.variant_title)}</span>) &times; <span class="quantity">${esc(i.quantity)}</span></li>`)
    send(res, 200, page("Cart", `<ul id="cart-items">${rows.join("\n")}</ul>
<p>Total: <span id="cart-total">${esc(money(cart.total, cart.currency_code))}</span></p>`))
  },
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, "http://storefront")
  let route = routes[`${req.method} ${url.pathname}`]
  let arg
  const product = url.pathname.match(/^\/products\/([^/]+)$/)
  if (!route && product && req.method === "GET") {
    route = routes["GET /products/*"]
    arg = decodeURIComponent(product[1])
  }
  if (!route) return send(res, 404, page("Not found", "<p>Not found.</p>"))
  try {
    await route(req, res, arg)
  } catch (err) {
    console.error(`storefront: ${req.method} ${url.pathname}: ${err.stack || err}`)
    if (!res.headersSent) send(res, 500, page("Error", "<p>Something went wrong.</p>"))
  }
})

server.listen(port, () => console.log(`storefront: listening on :${port}, backend ${backend}, country ${country}`))
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => server.close(() => process.exit(0)))

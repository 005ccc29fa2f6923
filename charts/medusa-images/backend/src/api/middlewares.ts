// Session cookies that follow the store's scheme. Medusa 2.8 makes the
// admin's session cookie `Secure; SameSite=None` whenever NODE_ENV is
// production, with no setting to change it, and express-session refuses to
// send a Secure cookie over plain HTTP: the admin of a store without TLS
// (the local default) could never log in. For a store whose public URL
// (MEDUSA_BACKEND_URL) is http://, this middleware, which runs after the
// session middleware on every route, makes the request's session cookie
// `SameSite=Lax` without `Secure`. https stores keep Medusa's cookie.
import { defineMiddlewares } from "@medusajs/framework/http"
import type { MedusaNextFunction, MedusaRequest, MedusaResponse } from "@medusajs/framework/http"

const plainHttp = !(process.env.MEDUSA_BACKEND_URL || "").startsWith("https://")

function cookiesFollowScheme(req: MedusaRequest, _res: MedusaResponse, next: MedusaNextFunction) {
  const session = (req as any).session
  if (plainHttp && session?.cookie) {
    session.cookie.secure = false
    session.cookie.sameSite = "lax"
  }
  next()
}

export default defineMiddlewares({
  routes: [{ matcher: "/*", middlewares: [cookiesFollowScheme] }],
})

// storeops-setup brings a fresh or existing store to its expected state. The
// chart's setup Job runs it through storeops/setup.js (which first waits for
// the API server's /health) after every install and upgrade:
//   medusa exec ./src/scripts/storeops-setup.js
// Every step checks before it acts and converges a half-done earlier run:
//   1. the admin user ADMIN_EMAIL exists, with an emailpass identity linked
//      to it and the password from ADMIN_PASSWORD_FILE (a run that died
//      between registering the identity and creating the user is finished);
//   2. with SAMPLE_DATA=true, a store with no product and no region yet gets
//      the starter's demo data (products, and the region, channel and key the
//      seed creates with them);
//   3. always, sample data or not: the store's defaults, a default sales
//      channel, a region holding the storefront's default country
//      (REGION_NAME, REGION_CURRENCY, REGION_COUNTRIES) — without it the
//      storefront answers 500 —, and a publishable API key whose token is
//      PUBLISHABLE_KEY_FILE, linked to the default sales channel.
import { readFileSync } from "fs"
import { ExecArgs } from "@medusajs/framework/types"
import { ContainerRegistrationKeys, Modules } from "@medusajs/framework/utils"
import {
  createApiKeysWorkflow,
  createDefaultsWorkflow,
  createRegionsWorkflow,
  createSalesChannelsWorkflow,
  createUserAccountWorkflow,
  linkSalesChannelsToApiKeyWorkflow,
  updateStoresWorkflow,
} from "@medusajs/medusa/core-flows"
import seedDemoData from "./seed"

function env(name: string, fallback?: string): string {
  const value = process.env[name] || fallback
  if (!value) {
    throw new Error(`${name} is not set`)
  }
  return value
}

// fromFile reads the credential NAME from the file NAME_FILE names.
function fromFile(name: string): string {
  const value = readFileSync(env(`${name}_FILE`), "utf8").replace(/[\r\n]+$/, "")
  if (!value) {
    throw new Error(`${name}_FILE is empty`)
  }
  return value
}

export default async function storeopsSetup({ container, args }: ExecArgs) {
  const logger = container.resolve(ContainerRegistrationKeys.LOGGER)
  const query = container.resolve(ContainerRegistrationKeys.QUERY)
  const email = env("ADMIN_EMAIL")
  const password = fromFile("ADMIN_PASSWORD")
  const token = fromFile("PUBLISHABLE_KEY")
  if (!/^pk_[0-9a-f]{64}$/.test(token)) {
    throw new Error("the publishable key must be pk_ followed by 64 hex digits")
  }
  const title = env("STORE_TITLE", "Store")
  const regionName = env("REGION_NAME", "Europe")
  const currency = env("REGION_CURRENCY", "eur").toLowerCase()
  const countries = env("REGION_COUNTRIES", "dk").toLowerCase().split(",").map((c) => c.trim()).filter(Boolean)

  // 1. Admin user, as `medusa user` creates it, converging each half.
  const userModule = container.resolve(Modules.USER)
  const authModule = container.resolve(Modules.AUTH)
  let [user] = await userModule.listUsers({ email })
  const identities = await authModule.listProviderIdentities(
    { entity_id: email, provider: "emailpass" },
    { relations: ["auth_identity"] }
  )
  let authIdentityId = identities[0]?.auth_identity_id
  if (authIdentityId) {
    // The password follows the Secret (an earlier run may have set another).
    const { success, error } = await authModule.updateProvider("emailpass", { entity_id: email, password } as any)
    if (!success) {
      throw new Error(`set the password of ${email}: ${error}`)
    }
  } else {
    const { authIdentity, error } = await authModule.register("emailpass", {
      body: { email, password },
    } as any)
    if (error || !authIdentity) {
      throw new Error(`register admin ${email}: ${error}`)
    }
    authIdentityId = authIdentity.id
    logger.info(`admin identity ${email} registered`)
  }
  if (!user) {
    await createUserAccountWorkflow(container).run({
      input: { userData: { email }, authIdentityId },
    })
    ;[user] = await userModule.listUsers({ email })
    logger.info(`admin user ${email} created`)
  }
  const [identity] = await authModule.listAuthIdentities({ id: [authIdentityId] })
  if (identity?.app_metadata?.user_id !== user.id) {
    await authModule.updateAuthIdentities({
      id: authIdentityId,
      app_metadata: { ...(identity?.app_metadata || {}), user_id: user.id },
    })
    logger.info(`admin identity linked to user ${email}`)
  }

  // 2. Sample data, only into an empty store: the starter's seed also creates
  // a region for its countries, which would clash with an existing one.
  const regionModule = container.resolve(Modules.REGION)
  if (process.env.SAMPLE_DATA === "true") {
    const productModule = container.resolve(Modules.PRODUCT)
    const [, products] = await productModule.listAndCountProducts({}, { take: 1 })
    const [, regions] = await regionModule.listAndCountRegions({}, { take: 1 })
    if (products > 0) {
      logger.info(`store has ${products} products: sample data not seeded`)
    } else if (regions > 0) {
      logger.warn("store has regions but no products: sample data not seeded (the seed would clash)")
    } else {
      await seedDemoData({ container, args } as ExecArgs)
      logger.info("sample data seeded")
    }
  }

  // 3. What every store needs to sell, sample data or not.
  await createDefaultsWorkflow(container).run()
  const storeModule = container.resolve(Modules.STORE)
  const salesChannelModule = container.resolve(Modules.SALES_CHANNEL)
  const [store] = await storeModule.listStores({}, { relations: ["supported_currencies"] })
  let channelId: string = store?.default_sales_channel_id || ""
  if (!channelId) {
    const [first] = await salesChannelModule.listSalesChannels({}, { take: 1 })
    if (first) {
      channelId = first.id
    } else {
      const { result } = await createSalesChannelsWorkflow(container).run({
        input: { salesChannelsData: [{ name: "Default Sales Channel" }] },
      })
      channelId = result[0].id
      logger.info("default sales channel created")
    }
  }
  if (store) {
    const currencies = (store.supported_currencies || []).map((c: any) => c.currency_code)
    const update: Record<string, unknown> = {}
    if (store.name !== title) update.name = title
    if (store.default_sales_channel_id !== channelId) update.default_sales_channel_id = channelId
    if (!currencies.includes(currency)) {
      update.supported_currencies = [
        ...(store.supported_currencies || []).map((c: any) => ({ currency_code: c.currency_code, is_default: c.is_default })),
        { currency_code: currency, is_default: currencies.length === 0 },
      ]
    }
    if (Object.keys(update).length > 0) {
      await updateStoresWorkflow(container).run({ input: { selector: { id: store.id }, update: update as any } })
      logger.info(`store updated: ${Object.keys(update).join(", ")}`)
    }
  }

  const regions = await regionModule.listRegions({}, { relations: ["countries"] })
  const taken = new Set(regions.flatMap((r: any) => (r.countries || []).map((c: any) => c.iso_2)))
  if (countries.some((c) => taken.has(c))) {
    logger.info(`a region holds ${countries.filter((c) => taken.has(c)).join(", ")}`)
  } else {
    await createRegionsWorkflow(container).run({
      input: {
        regions: [{ name: regionName, currency_code: currency, countries, payment_providers: ["pp_system_default"] }],
      },
    })
    logger.info(`region ${regionName} (${currency}: ${countries.join(", ")}) created`)
  }

  // The storefront's publishable key. Medusa generates tokens itself, so an
  // existing (or new) key gets the token from the Secret written over it.
  const apiKeyModule = container.resolve(Modules.API_KEY)
  const keys = await apiKeyModule.listApiKeys({ type: "publishable" })
  let key = keys.find((k) => k.token === token && !k.revoked_at) || keys.find((k) => !k.revoked_at)
  if (!key) {
    const { result } = await createApiKeysWorkflow(container).run({
      input: { api_keys: [{ title, type: "publishable" as const, created_by: "" }] },
    })
    key = result[0]
    logger.info("publishable key created")
  }
  if (key.token !== token) {
    const knex = container.resolve(ContainerRegistrationKeys.PG_CONNECTION)
    await knex("api_key").where({ id: key.id }).update({ token })
    logger.info("publishable key set from the store's Secret")
  }
  const { data } = await query.graph({
    entity: "api_key",
    fields: ["id", "sales_channels.id"],
    filters: { id: key.id },
  })
  const linked: string[] = ((data[0] as any)?.sales_channels || []).map((c: any) => c.id)
  if (!linked.includes(channelId)) {
    await linkSalesChannelsToApiKeyWorkflow(container).run({ input: { id: key.id, add: [channelId] } })
    logger.info("publishable key linked to the default sales channel")
  }
  logger.info("setup done")
}

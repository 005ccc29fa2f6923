// storeops-setup brings a fresh or existing store to its expected state; the
// chart's setup Job runs it after every install and upgrade with
//   medusa exec ./src/scripts/storeops-setup.js
// Every step checks before it acts:
//   1. the admin user ADMIN_EMAIL exists (password ADMIN_PASSWORD);
//   2. with SAMPLE_DATA=true and no product yet, the starter's seed runs;
//   3. a publishable API key with the token PUBLISHABLE_KEY exists and is
//      linked to the default sales channel, so the storefront (which gets the
//      same token from the same Secret) can call the Store API.
import { ExecArgs } from "@medusajs/framework/types"
import { ContainerRegistrationKeys, Modules } from "@medusajs/framework/utils"
import {
  createApiKeysWorkflow,
  createUserAccountWorkflow,
  linkSalesChannelsToApiKeyWorkflow,
} from "@medusajs/medusa/core-flows"
import seedDemoData from "./seed"

function env(name: string): string {
  const value = process.env[name]
  if (!value) {
    throw new Error(`${name} is not set`)
  }
  return value
}

export default async function storeopsSetup({ container, args }: ExecArgs) {
  const logger = container.resolve(ContainerRegistrationKeys.LOGGER)
  const email = env("ADMIN_EMAIL")
  const password = env("ADMIN_PASSWORD")
  const token = env("PUBLISHABLE_KEY")
  if (!/^pk_[0-9a-f]{64}$/.test(token)) {
    throw new Error("PUBLISHABLE_KEY must be pk_ followed by 64 hex digits")
  }

  // 1. Admin user, as `medusa user` creates it.
  const userModule = container.resolve(Modules.USER)
  const users = await userModule.listUsers({ email })
  if (users.length > 0) {
    logger.info(`admin user ${email} exists`)
  } else {
    const authModule = container.resolve(Modules.AUTH)
    const { authIdentity, error } = await authModule.register("emailpass", {
      body: { email, password },
    } as any)
    if (error || !authIdentity) {
      throw new Error(`register admin ${email}: ${error}`)
    }
    await createUserAccountWorkflow(container).run({
      input: { userData: { email }, authIdentityId: authIdentity.id },
    })
    logger.info(`admin user ${email} created`)
  }

  // 2. Sample data, only into a store without products.
  if (process.env.SAMPLE_DATA === "true") {
    const productModule = container.resolve(Modules.PRODUCT)
    const [, count] = await productModule.listAndCountProducts({}, { take: 1 })
    if (count > 0) {
      logger.info(`store has ${count} products: sample data not seeded`)
    } else {
      await seedDemoData({ container, args } as ExecArgs)
      logger.info("sample data seeded")
    }
  }

  // 3. The storefront's publishable key. Medusa generates tokens itself, so
  // an existing (or new) key gets the token from the Secret written over it.
  const apiKeyModule = container.resolve(Modules.API_KEY)
  const keys = await apiKeyModule.listApiKeys({ type: "publishable" })
  if (keys.some((k) => k.token === token && !k.revoked_at)) {
    logger.info("publishable key is set")
    return
  }
  let key = keys.find((k) => !k.revoked_at)
  if (!key) {
    const { result } = await createApiKeysWorkflow(container).run({
      input: {
        api_keys: [{ title: process.env.STORE_TITLE || "Storefront", type: "publishable", created_by: "" }],
      },
    })
    key = result[0]
    const salesChannelModule = container.resolve(Modules.SALES_CHANNEL)
    const channels = await salesChannelModule.listSalesChannels({}, { take: 1 })
    if (channels.length > 0) {
      await linkSalesChannelsToApiKeyWorkflow(container).run({
        input: { id: key.id, add: [channels[0].id] },
      })
    }
  }
  const knex = container.resolve(ContainerRegistrationKeys.PG_CONNECTION)
  await knex("api_key").where({ id: key.id }).update({ token })
  logger.info("publishable key set from the store's Secret")
}

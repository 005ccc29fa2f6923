// The sample catalogue storeops-setup seeds into an empty store (sampleData),
// after the official starter's src/scripts/seed.ts, which the image cannot
// take from GitHub: the region of REGION_NAME, REGION_CURRENCY and
// REGION_COUNTRIES (the setup's own region) with tax regions, a warehouse
// with a shipping zone over the same countries and a flat "Standard
// Shipping" option, the default sales channel linked to the warehouse, and
// a few published products with variants priced in the region's currency,
// stocked in the warehouse. The publishable key is the setup's (step 3).
// Only ever run on a store with no product and no region.
import { CreateInventoryLevelInput, ExecArgs } from "@medusajs/framework/types"
import { ContainerRegistrationKeys, Modules, ProductStatus } from "@medusajs/framework/utils"
import {
  createInventoryLevelsWorkflow,
  createProductCategoriesWorkflow,
  createProductsWorkflow,
  createRegionsWorkflow,
  createSalesChannelsWorkflow,
  createShippingOptionsWorkflow,
  createShippingProfilesWorkflow,
  createStockLocationsWorkflow,
  createTaxRegionsWorkflow,
  linkSalesChannelsToStockLocationWorkflow,
  updateStoresWorkflow,
} from "@medusajs/medusa/core-flows"

type Garment = { title: string; handle: string; category: string; description: string; price: number; colors?: string[] }

const catalogue: Garment[] = [
  { title: "Medusa T-Shirt", handle: "t-shirt", category: "Shirts", price: 15, colors: ["Black", "White"],
    description: "A soft cotton t-shirt, for every day." },
  { title: "Medusa Sweatshirt", handle: "sweatshirt", category: "Sweatshirts", price: 35,
    description: "A warm sweatshirt with a relaxed fit." },
  { title: "Medusa Sweatpants", handle: "sweatpants", category: "Pants", price: 30,
    description: "Comfortable sweatpants for the weekend." },
  { title: "Medusa Shorts", handle: "shorts", category: "Merch", price: 20,
    description: "Light shorts for the summer." },
]

const sizes = ["S", "M", "L", "XL"]

export default async function seedDemoData({ container }: ExecArgs) {
  const logger = container.resolve(ContainerRegistrationKeys.LOGGER)
  const link = container.resolve(ContainerRegistrationKeys.LINK)
  const query = container.resolve(ContainerRegistrationKeys.QUERY)
  const fulfillment = container.resolve(Modules.FULFILLMENT)
  const salesChannels = container.resolve(Modules.SALES_CHANNEL)
  const stores = container.resolve(Modules.STORE)

  const regionName = process.env.REGION_NAME || "Europe"
  const currency = (process.env.REGION_CURRENCY || "eur").toLowerCase()
  const countries = (process.env.REGION_COUNTRIES || "gb,de,dk,se,fr,es,it")
    .toLowerCase().split(",").map((c) => c.trim()).filter(Boolean)

  const [store] = await stores.listStores()
  let [channel] = await salesChannels.listSalesChannels({ name: "Default Sales Channel" })
  if (!channel) {
    const { result } = await createSalesChannelsWorkflow(container).run({
      input: { salesChannelsData: [{ name: "Default Sales Channel" }] },
    })
    channel = result[0]
  }
  await updateStoresWorkflow(container).run({
    input: {
      selector: { id: store.id },
      update: {
        supported_currencies: [{ currency_code: currency, is_default: true }],
        default_sales_channel_id: channel.id,
      },
    },
  })

  const { result: regions } = await createRegionsWorkflow(container).run({
    input: { regions: [{ name: regionName, currency_code: currency, countries, payment_providers: ["pp_system_default"] }] },
  })
  const region = regions[0]
  await createTaxRegionsWorkflow(container).run({
    input: countries.map((country_code) => ({ country_code, provider_id: "tp_system" })),
  })
  logger.info(`seed: region ${regionName} and its tax regions`)

  const { result: locations } = await createStockLocationsWorkflow(container).run({
    input: { locations: [{ name: "Warehouse", address: { city: "Copenhagen", country_code: countries[0].toUpperCase(), address_1: "" } }] },
  })
  const location = locations[0]
  await link.create({
    [Modules.STOCK_LOCATION]: { stock_location_id: location.id },
    [Modules.FULFILLMENT]: { fulfillment_provider_id: "manual_manual" },
  })
  let [profile] = await fulfillment.listShippingProfiles({ type: "default" })
  if (!profile) {
    const { result } = await createShippingProfilesWorkflow(container).run({
      input: { data: [{ name: "Default Shipping Profile", type: "default" }] },
    })
    profile = result[0]
  }
  const fulfillmentSet = await fulfillment.createFulfillmentSets({
    name: "Warehouse delivery",
    type: "shipping",
    service_zones: [{ name: regionName, geo_zones: countries.map((country_code) => ({ country_code, type: "country" as const })) }],
  })
  await link.create({
    [Modules.STOCK_LOCATION]: { stock_location_id: location.id },
    [Modules.FULFILLMENT]: { fulfillment_set_id: fulfillmentSet.id },
  })
  await createShippingOptionsWorkflow(container).run({
    input: [
      {
        name: "Standard Shipping",
        price_type: "flat",
        provider_id: "manual_manual",
        service_zone_id: fulfillmentSet.service_zones[0].id,
        shipping_profile_id: profile.id,
        type: { label: "Standard", description: "Ships in 2-3 days.", code: "standard" },
        prices: [{ currency_code: currency, amount: 5 }, { region_id: region.id, amount: 5 }],
        rules: [
          { attribute: "enabled_in_store", value: "true", operator: "eq" },
          { attribute: "is_return", value: "false", operator: "eq" },
        ],
      },
    ],
  })
  await linkSalesChannelsToStockLocationWorkflow(container).run({ input: { id: location.id, add: [channel.id] } })
  logger.info("seed: warehouse, shipping zone and option")

  const names = [...new Set(catalogue.map((g) => g.category))]
  const { result: categories } = await createProductCategoriesWorkflow(container).run({
    input: { product_categories: names.map((name) => ({ name, is_active: true })) },
  })
  await createProductsWorkflow(container).run({
    input: {
      products: catalogue.map((g) => {
        const colors = g.colors || []
        const options = colors.length
          ? [{ title: "Size", values: sizes }, { title: "Color", values: colors }]
          : [{ title: "Size", values: sizes }]
        const variants = sizes.flatMap((size) =>
          (colors.length ? colors : [""]).map((color) => ({
            title: color ? `${size} / ${color}` : size,
            sku: [g.handle, size, color].filter(Boolean).join("-").toUpperCase(),
            options: (color ? { Size: size, Color: color } : { Size: size }) as Record<string, string>,
            prices: [{ amount: g.price, currency_code: currency }],
          }))
        )
        return {
          title: g.title,
          handle: g.handle,
          description: g.description,
          status: ProductStatus.PUBLISHED,
          weight: 400,
          shipping_profile_id: profile.id,
          category_ids: [categories.find((c) => c.name === g.category)!.id],
          options,
          variants,
          sales_channels: [{ id: channel.id }],
        }
      }),
    },
  })
  const { data: items } = await query.graph({ entity: "inventory_item", fields: ["id"] })
  const levels: CreateInventoryLevelInput[] = items.map((item: any) => ({
    location_id: location.id,
    stocked_quantity: 1000000,
    inventory_item_id: item.id,
  }))
  await createInventoryLevelsWorkflow(container).run({ input: { inventory_levels: levels } })
  logger.info(`seed: ${catalogue.length} products in ${names.length} categories`)
}

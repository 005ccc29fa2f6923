#!/bin/sh
# storeops setup of a WooCommerce store. The chart's setup Job runs it after
# every install and upgrade (and it works as well whenever it starts: it
# waits for the database). Every step checks before it acts, so each run
# converges the store on the chart's values:
#   - WordPress installed (admin password read from a file on stdin, never
#     on a command line), its database schema current (wp core update-db);
#   - WooCommerce at exactly WOOCOMMERCE_VERSION, active, its database
#     updates run (wp wc update), the store launched (no "coming soon",
#     no setup wizard);
#   - the offline payment methods of PAYMENT_METHODS enabled and the other
#     offline ones (cod, bacs, cheque) disabled;
#   - a flat rate of FLAT_RATE_COST in the zone "Locations not covered by
#     your other zones" (none when empty);
#   - the sample products imported once into a store without products.
set -eu
cd "${WP_PATH:-/var/www/html}"
if [ -n "${WP_CLI_BIN:-}" ]; then
  wp() { "$WP_CLI_BIN" "$@"; }
else
  wp() { php -d memory_limit=384M /usr/local/bin/wp "$@"; }
fi
log() { echo "setup: $*"; }

log "waiting for the database at ${WORDPRESS_DB_HOST}"
# Quietly (@: no warning per try while the name does not resolve yet), and
# a failed connection fails whether mysqli throws or returns false.
tries=0
until php -r 'try { $p = rtrim(file_get_contents(getenv("WORDPRESS_DB_PASSWORD_FILE")), "\r\n"); exit(@mysqli_connect(getenv("WORDPRESS_DB_HOST"), getenv("WORDPRESS_DB_USER"), $p, getenv("WORDPRESS_DB_NAME")) ? 0 : 1); } catch (Throwable $e) { exit(1); }'; do
  tries=$((tries + 1))
  if [ "$tries" -ge "${DB_WAIT_TRIES:-120}" ]; then echo "setup: database not reachable in time" >&2; exit 1; fi
  sleep "${DB_WAIT_INTERVAL:-5}"
done

# WordPress.
if wp core is-installed; then
  log "WordPress is installed"
else
  # --prompt reads the listed values from stdin: the password never
  # appears in a process listing.
  wp core install --url="$STORE_URL" --title="$STORE_TITLE" --admin_user="$ADMIN_USER" \
    --admin_email="$ADMIN_EMAIL" --skip-email --prompt=admin_password < "$ADMIN_PASSWORD_FILE"
  log "WordPress installed"
fi
wp core update-db

# WooCommerce at the chart's version: a changed version is installed over
# the old one, then its database updates run.
current=""
if wp plugin is-installed woocommerce; then
  current=$(wp plugin get woocommerce --field=version)
fi
if [ "$current" = "$WOOCOMMERCE_VERSION" ]; then
  log "WooCommerce $current is installed"
else
  wp plugin install woocommerce --version="$WOOCOMMERCE_VERSION" --force
  log "WooCommerce ${current:-(none)} -> $WOOCOMMERCE_VERSION"
fi
if ! wp plugin is-active woocommerce; then
  wp plugin activate woocommerce
fi
wp wc update

# Launched: fresh installs start in "coming soon" mode, showing visitors a
# placeholder.
wp option update woocommerce_coming_soon no
# storeops has set the store up: the admin is not sent to WooCommerce's
# setup wizard (only set while the merchant has no onboarding profile).
if ! wp option get woocommerce_onboarding_profile >/dev/null 2>&1; then
  wp option update woocommerce_onboarding_profile '{"skipped":true}' --format=json
fi

# Offline payment methods.
for gateway in cod bacs cheque; do
  enabled=false
  for wanted in $(echo "$PAYMENT_METHODS" | tr ',' ' '); do
    if [ "$wanted" = "$gateway" ]; then enabled=true; fi
  done
  wp wc payment_gateway update "$gateway" --enabled="$enabled" --user="$ADMIN_USER" --porcelain >/dev/null
  log "payment method $gateway enabled=$enabled"
done

# A flat rate everywhere: zone 0 is "Locations not covered by your other
# zones". The first flat rate there is kept and given the cost.
flat=$(wp wc shipping_zone_method list 0 --user="$ADMIN_USER" --format=csv --fields=instance_id,method_id \
  | awk -F, '$2 == "flat_rate" { print $1; exit }')
if [ -z "$FLAT_RATE_COST" ]; then
  if [ -n "$flat" ]; then
    wp wc shipping_zone_method delete 0 "$flat" --force=true --user="$ADMIN_USER" --porcelain >/dev/null
    log "flat rate removed"
  fi
elif [ -n "$flat" ]; then
  wp wc shipping_zone_method update 0 "$flat" --enabled=true --settings="{\"title\":\"Flat rate\",\"cost\":\"$FLAT_RATE_COST\"}" \
    --user="$ADMIN_USER" --porcelain >/dev/null
  log "flat rate $FLAT_RATE_COST"
else
  wp wc shipping_zone_method create 0 --method_id=flat_rate --enabled=true --settings="{\"title\":\"Flat rate\",\"cost\":\"$FLAT_RATE_COST\"}" \
    --user="$ADMIN_USER" --porcelain >/dev/null
  log "flat rate $FLAT_RATE_COST created"
fi

# Sample products, once, into a store without products.
if [ "$SAMPLE_DATA" != "true" ]; then
  log "sample data not requested"
  exit 0
fi
products=$(wp post list --post_type=product --post_status=any --format=count)
if [ "$products" -gt 0 ]; then
  log "store has $products products: sample data not imported"
  exit 0
fi
if ! wp plugin is-installed wordpress-importer; then
  wp plugin install wordpress-importer --version="$IMPORTER_VERSION"
fi
if ! wp plugin is-active wordpress-importer; then
  wp plugin activate wordpress-importer
fi
wp import wp-content/plugins/woocommerce/sample-data/sample_products.xml --authors=create
log "sample products imported"

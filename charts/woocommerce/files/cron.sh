#!/bin/sh
# Runs WordPress's due cron events (Action Scheduler's queue runner, which
# WooCommerce depends on, included). WP-Cron is off (DISABLE_WP_CRON): page
# views no longer call the public URL from inside the pod to run it.
set -eu
cd "${WP_PATH:-/var/www/html}"
if [ -n "${WP_CLI_BIN:-}" ]; then
  wp() { "$WP_CLI_BIN" "$@"; }
else
  wp() { php -d memory_limit=384M /usr/local/bin/wp "$@"; }
fi
if ! wp core is-installed; then
  echo "cron: WordPress is not installed yet"
  exit 0
fi
wp cron event run --due-now

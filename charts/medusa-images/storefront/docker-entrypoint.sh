#!/bin/sh
# Writes the store's NEXT_PUBLIC_* values over the placeholders compiled into
# the build, then starts the storefront.
set -eu
: "${NEXT_PUBLIC_MEDUSA_PUBLISHABLE_KEY:?must be set}"
: "${NEXT_PUBLIC_BASE_URL:?must be set}"
: "${NEXT_PUBLIC_DEFAULT_REGION:?must be set}"
case "$NEXT_PUBLIC_MEDUSA_PUBLISHABLE_KEY" in
  pk_*) ;;
  *) echo "storefront: NEXT_PUBLIC_MEDUSA_PUBLISHABLE_KEY is not a publishable key" >&2; exit 64 ;;
esac
replace() {
  grep -rlF "$1" /app/.next 2>/dev/null | while read -r f; do
    sed -i "s|$1|$2|g" "$f"
  done
}
replace pk_storeops_publishable_key_placeholder "$NEXT_PUBLIC_MEDUSA_PUBLISHABLE_KEY"
replace https://storeops-base-url.invalid "$NEXT_PUBLIC_BASE_URL"
replace storeops-default-region "$NEXT_PUBLIC_DEFAULT_REGION"
exec "$@"

#!/bin/sh
# Writes the store's NEXT_PUBLIC_* values over the placeholders compiled into
# the build, then starts the storefront. The publishable key comes from a
# file (NEXT_PUBLIC_MEDUSA_PUBLISHABLE_KEY_FILE, the store's Secret) or from
# the variable itself.
set -eu
if [ -n "${NEXT_PUBLIC_MEDUSA_PUBLISHABLE_KEY_FILE:-}" ]; then
  NEXT_PUBLIC_MEDUSA_PUBLISHABLE_KEY=$(cat "$NEXT_PUBLIC_MEDUSA_PUBLISHABLE_KEY_FILE")
  export NEXT_PUBLIC_MEDUSA_PUBLISHABLE_KEY
fi
: "${NEXT_PUBLIC_MEDUSA_PUBLISHABLE_KEY:?must be set}"
: "${NEXT_PUBLIC_BASE_URL:?must be set}"
: "${NEXT_PUBLIC_DEFAULT_REGION:?must be set}"
case "$NEXT_PUBLIC_MEDUSA_PUBLISHABLE_KEY" in
  pk_*) ;;
  *) echo "storefront: the publishable key is not one (pk_...)" >&2; exit 64 ;;
esac
case "$NEXT_PUBLIC_BASE_URL" in
  https://*) STOREOPS_SECURE_COOKIES=true ;;
  *) STOREOPS_SECURE_COOKIES=false ;;
esac
export STOREOPS_SECURE_COOKIES
replace() {
  grep -rlF "$1" /app/.next 2>/dev/null | while read -r f; do
    sed -i "s|$1|$2|g" "$f"
  done
}
replace pk_storeops_publishable_key_placeholder "$NEXT_PUBLIC_MEDUSA_PUBLISHABLE_KEY"
replace https://storeops-base-url.invalid "$NEXT_PUBLIC_BASE_URL"
replace storeops-default-region "$NEXT_PUBLIC_DEFAULT_REGION"
exec "$@"

#!/bin/sh
# Refuse to start without real secrets: the Medusa starter silently falls back
# to "supersecret" when JWT_SECRET or COOKIE_SECRET is unset.
set -eu
for name in JWT_SECRET COOKIE_SECRET DATABASE_URL; do
  eval "value=\${$name:-}"
  if [ -z "$value" ]; then
    echo "medusa-backend: $name is not set; refusing to start" >&2
    exit 64
  fi
done
for name in JWT_SECRET COOKIE_SECRET; do
  eval "value=\${$name}"
  if [ "$value" = "supersecret" ] || [ "${#value}" -lt 32 ]; then
    echo "medusa-backend: $name is a default or shorter than 32 characters; refusing to start" >&2
    exit 64
  fi
done
exec "$@"

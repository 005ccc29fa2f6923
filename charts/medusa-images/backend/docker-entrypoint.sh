#!/bin/sh
# Refuse to start without real secrets: the Medusa starter silently falls back
# to "supersecret" when JWT_SECRET or COOKIE_SECRET is unset. Secrets come
# from files (NAME_FILE), or from NAME for local runs.
set -eu
secret() {
  eval "file=\${${1}_FILE:-}"
  if [ -n "$file" ]; then
    [ -r "$file" ] || { echo "medusa-backend: ${1}_FILE=$file is not readable; refusing to start" >&2; exit 64; }
    value=$(cat "$file")
  else
    eval "value=\${$1:-}"
  fi
}
for name in JWT_SECRET COOKIE_SECRET POSTGRES_PASSWORD REDIS_PASSWORD; do
  secret "$name"
  if [ -z "$value" ]; then
    echo "medusa-backend: $name is not set; refusing to start" >&2
    exit 64
  fi
done
for name in JWT_SECRET COOKIE_SECRET; do
  secret "$name"
  if [ "$value" = "supersecret" ] || [ "${#value}" -lt 32 ]; then
    echo "medusa-backend: $name is a default or shorter than 32 characters; refusing to start" >&2
    exit 64
  fi
done
unset value file
exec "$@"

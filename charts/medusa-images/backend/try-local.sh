#!/bin/sh
# try-local.sh: runs the backend image's own code (medusa-config.ts,
# storeops/config.js, migrate.js, setup.js, src/scripts/storeops-setup.ts,
# src/api/middlewares.ts) against the pinned Medusa from the npm registry,
# a local PostgreSQL without TLS and a local Redis with a password, without
# a container engine or the starter (its sample-data seed is not there, so
# sampleData is false). It checks, for real:
#   - migrations connect without TLS to a host that is not "localhost"
#     (the chart's case), two at once under the lock;
#   - the setup waits for /health, creates the admin, region, sales channel
#     and publishable key, and converges a half-done run (user deleted,
#     password changed);
#   - the Store API answers with the region, the admin logs in, and the
#     session cookie of an http store is not Secure.
# Needs node 20+, npm, PostgreSQL 15 server binaries (apt-get install
# postgresql-15 redis-server) and the npm registry. Run as root from any
# directory: sh charts/medusa-images/backend/try-local.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
V=$(awk '/^appVersion:/ {gsub(/"/, "", $2); print $2}' "$here/../../medusa/Chart.yaml")
work=${WORK:-/tmp/storeops-medusa-try}
pgbin=${PGBIN:-/usr/lib/postgresql/15/bin}
pgport=55432 rdport=56379 port=59000
mkdir -p "$work" && cd "$work"
cleanup() {
  [ -f server.pid ] && kill "$(cat server.pid)" 2>/dev/null || true
  rm -f server.pid
  [ -d pg ] && su postgres -c "$pgbin/pg_ctl -D $work/pg -m fast stop" >/dev/null 2>&1 || true
  [ -f redis.pid ] && kill "$(cat redis.pid)" 2>/dev/null || true
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

echo "== Medusa $V from the npm registry, as package-lock.json pins it"
# The image's own dependencies: the committed package.json and lock file,
# installed exactly (npm ci), as the image build does.
cp "$here/package.json" "$here/package-lock.json" .
grep -q "\"@medusajs/framework\": \"$V\"" package.json || fail "package.json does not pin Medusa $V (the chart's appVersion)"
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
# The starter's TypeScript settings, which medusa-config.ts is loaded with.
cat > tsconfig.json <<JSON
{"compilerOptions":{"target":"ES2021","esModuleInterop":true,"module":"Node16","moduleResolution":"Node16",
"declaration":false,"skipLibCheck":true,"strictNullChecks":true,"types":["node"]},
"include":["src/**/*.ts","medusa-config.ts"],"exclude":["node_modules"]}
JSON
cp "$here/medusa-config.ts" . && rm -rf storeops src && cp -r "$here/storeops" storeops
mkdir -p src/scripts src/api && cp "$here/src/api/middlewares.ts" src/api/ && cp "$here/src/scripts/storeops-setup.ts" src/scripts/
echo 'export default async function seedDemoData(_: unknown) {}' > src/scripts/seed.ts
npx tsc src/scripts/storeops-setup.ts src/scripts/seed.ts --outDir src/scripts --module commonjs --target es2021 \
  --esModuleInterop --skipLibCheck >/dev/null 2>&1 || true # emits despite module-resolution noise
test -f src/scripts/storeops-setup.js || fail "storeops-setup.ts did not compile"

echo "== PostgreSQL (no TLS) and Redis (password)"
rm -rf pg && mkdir -p pg secrets && chown postgres pg "$work"
su postgres -c "$pgbin/initdb -D $work/pg -A trust -U postgres" >/dev/null
su postgres -c "$pgbin/pg_ctl -D $work/pg -o '-p $pgport -k $work -c listen_addresses=127.0.0.1' -l $work/pg.log -w start" >/dev/null
tr -dc 'A-Za-z0-9' </dev/urandom | head -c 43 > secrets/postgres-password
for k in redis-password jwt-secret cookie-secret admin-password; do tr -dc 'A-Za-z0-9' </dev/urandom | head -c 43 > secrets/$k; done
printf 'pk_%s' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" > secrets/publishable-key
psql() { su postgres -c "psql -h 127.0.0.1 -p $pgport -U postgres -qtAc \"$1\" ${2:-postgres}"; }
psql "CREATE USER medusa PASSWORD '$(cat secrets/postgres-password)'"
psql "CREATE DATABASE medusa OWNER medusa"
printf 'port %s\nbind 127.0.0.1\nrequirepass %s\nsave ""\ndaemonize yes\npidfile %s/redis.pid\nlogfile %s/redis.log\n' \
  "$rdport" "$(cat secrets/redis-password)" "$work" "$work" > redis.conf
redis-server redis.conf

# The chart's environment (charts/medusa/templates/_helpers.tpl), except
# that the database host is 127.1: the loopback address, written so that
# Medusa's "is it local?" test does not match, as for the chart's Service.
export NODE_ENV=production HOME=/tmp MEDUSA_DISABLE_TELEMETRY=true
# The scripts run the medusa CLI from PATH, as in the image.
export PATH="$work/node_modules/.bin:$PATH"
export POSTGRES_HOST=127.1 POSTGRES_PORT=$pgport POSTGRES_USER=medusa POSTGRES_DB=medusa
export POSTGRES_PASSWORD_FILE=$work/secrets/postgres-password REDIS_HOST=127.0.0.1 REDIS_PORT=$rdport
export REDIS_PASSWORD_FILE=$work/secrets/redis-password JWT_SECRET_FILE=$work/secrets/jwt-secret COOKIE_SECRET_FILE=$work/secrets/cookie-secret
url=http://shop.stores.localhost
export STORE_CORS=$url ADMIN_CORS=$url AUTH_CORS=$url MEDUSA_BACKEND_URL=$url

echo "== two migrations at once, under the lock"
node storeops/migrate.js > migrate1.log 2>&1 & p1=$!
node storeops/migrate.js > migrate2.log 2>&1 & p2=$!
wait $p1 || fail "migration 1: $(tail -5 migrate1.log)"
wait $p2 || fail "migration 2: $(tail -5 migrate2.log)"

echo "== setup before the server is up: it waits for /health"
export MEDUSA_SERVER_URL=http://127.0.0.1:$port SETUP_WAIT_SECONDS=300 STORE_TITLE="Try Shop"
export ADMIN_EMAIL=admin@shop.stores.localhost ADMIN_PASSWORD_FILE=$work/secrets/admin-password
export PUBLISHABLE_KEY_FILE=$work/secrets/publishable-key SAMPLE_DATA=false
export REGION_NAME=Europe REGION_CURRENCY=eur REGION_COUNTRIES=gb,de,dk,se,fr,es,it
node storeops/setup.js > setup1.log 2>&1 & setup=$!
sleep 5
DISABLE_MEDUSA_ADMIN=true PORT=$port MEDUSA_WORKER_MODE=shared node node_modules/@medusajs/cli/cli.js start > server.log 2>&1 &
echo $! > server.pid
wait $setup || fail "setup: $(tail -5 setup1.log)"
grep -q "waiting for http://127.0.0.1:$port/health" setup1.log || fail "setup did not wait for the server"

echo "== the store works"
pk=$(cat secrets/publishable-key)
curl -sf -H "x-publishable-api-key: $pk" "http://127.0.0.1:$port/store/regions" | grep -q '"iso_2":"dk"' || fail "no region for dk"
login() {
  curl -sf -X POST -H 'content-type: application/json' \
    -d "{\"email\":\"$ADMIN_EMAIL\",\"password\":\"$(cat secrets/admin-password)\"}" \
    "http://127.0.0.1:$port/auth/user/emailpass" | node -pe 'JSON.parse(require("fs").readFileSync(0)).token'
}
token=$(login) || fail "admin login"
cookie=$(curl -sf -D - -o /dev/null -X POST -H "authorization: Bearer $token" "http://127.0.0.1:$port/auth/session" | grep -i '^set-cookie: connect.sid')
case "$cookie" in *[Ss]ecure*) fail "session cookie of an http store is Secure: $cookie" ;; esac

echo "== a half-done store converges"
PGPASSWORD=$(cat secrets/postgres-password) su postgres -c "psql -h 127.0.0.1 -p $pgport -U postgres -qc 'DELETE FROM \"user\"; UPDATE auth_identity SET app_metadata = NULL' medusa"
tr -dc 'A-Za-z0-9' </dev/urandom | head -c 43 > secrets/admin-password
node storeops/setup.js > setup2.log 2>&1 || fail "second setup: $(tail -5 setup2.log)"
node storeops/setup.js > setup3.log 2>&1 || fail "third setup: $(tail -5 setup3.log)"
login >/dev/null || fail "admin login with the new password"
[ "$(psql 'SELECT count(*) FROM region' medusa)" = 1 ] || fail "regions duplicated"
[ "$(psql 'SELECT count(*) FROM api_key' medusa)" = 1 ] || fail "keys duplicated"
[ "$(psql 'SELECT count(*) FROM "user"' medusa)" = 1 ] || fail "no admin user"
echo "PASS"

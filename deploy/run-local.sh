#!/usr/bin/env bash
# `make run`: storeops on its embedded default. Starts the local control
# plane (unless KUBECONFIG is set), a local Git server holding a config
# repository made from stores.example.yaml, and `storeops serve` against both.
set -euo pipefail
cd "$(dirname "$0")/.."

RUN_DIR=${RUN_DIR:-.run}
LISTEN=${STOREOPS_LISTEN:-127.0.0.1:8080}
GIT_LISTEN=${DEVGIT_LISTEN:-127.0.0.1:8081}
GO=${GO:-go}
STOREOPS=${STOREOPS:-bin/storeops}   # built by `make run`
DEVGIT=${DEVGIT:-bin/devgit}
mkdir -p "$RUN_DIR"

if [ -z "${KUBECONFIG:-}" ]; then
  # PROFILE=instant|realistic|bench (and TIME_SCALE, FAILURE_PERCENT, NODES)
  # reach devcluster-up through make's command line or the environment.
  make --no-print-directory devcluster-up
  state=${DEVCLUSTER_STATE:-$PWD/.run/devcluster}
  export KUBECONFIG="$state/kubeconfig"
  started_cluster=1
  cluster_profile=$(cat "$state/profile" 2>/dev/null || true)
elif [ -n "${PROFILE:-}" ] && [ "${PROFILE}" != instant ]; then
  echo "run-local: KUBECONFIG is set, so PROFILE=$PROFILE does not apply (it chooses the local control plane's)" >&2
fi

secret="$RUN_DIR/webhook-secret"
if [ ! -s "$secret" ]; then
  (umask 077; head -c 32 /dev/urandom | base64 | tr -d '=+/\n' > "$secret")
fi

"$GO" build -o "$DEVGIT" ./internal/devgit/cmd/devgit
"$DEVGIT" -root "$RUN_DIR/git" -seed stores.example.yaml -listen "$GIT_LISTEN" \
  -webhook-url "http://$LISTEN/hooks/generic" -webhook-secret-file "$secret" &
devgit=$!
trap 'kill $devgit 2>/dev/null || true' EXIT

# Wait for the Git server to listen (at most 10 s).
host=${GIT_LISTEN%:*}; port=${GIT_LISTEN##*:}
for _ in $(seq 100); do
  if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then break; fi
  sleep 0.1
done

cat <<MSG

  storeops is starting.
    Dashboard and API:  http://$LISTEN/   (JSON under http://$LISTEN/api/v1/)
    Config repository:  http://$GIT_LISTEN/stores.git

  Change the stores by pushing, as you would to a forge:
    git clone http://$GIT_LISTEN/stores.git && cd stores
    \$EDITOR stores.yaml && git commit -am "Add a store" && git push
  Every push sends storeops a signed webhook and it syncs at once.
  kubectl works with KUBECONFIG=$KUBECONFIG${cluster_profile:+
  Local control plane: $cluster_profile (PROFILE=instant|realistic|bench).}
  Stop with Ctrl-C${started_cluster:+; stop the local control plane with: make devcluster-down}.

MSG

"$STOREOPS" serve \
  --git-url "http://$GIT_LISTEN/stores.git" \
  --listen "$LISTEN" \
  --webhook-secret-file "$secret" --webhooks generic \
  --git-cache-dir "$RUN_DIR/git-cache" \
  --anonymous-reads \
  "$@"

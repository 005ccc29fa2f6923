package real

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/storeops/storeops/internal/devcluster"
	"github.com/storeops/storeops/internal/reporoot"
	"github.com/storeops/storeops/internal/testcluster"
)

// Stand-ins for the third-party images of the Medusa chart
// (docker.io/library/redis and postgres, which cannot be pulled from these
// machines), built from Debian bookworm's packages with mmdebstrap. They
// honour the part of the official images' contract that
// charts/medusa/templates/{redis,postgres}.yaml rely on: uid and gid 999,
// sh, redis-server and redis-cli on PATH; for PostgreSQL an entrypoint that
// reads POSTGRES_USER, POSTGRES_DB, POSTGRES_PASSWORD_FILE and PGDATA,
// initialises an empty data directory with a temporary server that listens
// on no TCP port, then runs the server on *:5432, and pg_isready on PATH.
// Debian serves Redis 7.0 and PostgreSQL 15 where the chart pins 7.4 and 16.

// standin is the recipe of a stand-in image.
type standin struct {
	name     string
	ref      string
	packages []string
	user     [3]string // name, home, shell of the uid/gid 999 user
	hooks    []string  // more mmdebstrap --essential-hook commands
	// mmdebstrap --customize-hook commands, run once the packages are in
	customize []string
	files     []devcluster.ImageFile
	config    devcluster.ImageConfig
}

const debianPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

var redisStandin = standin{
	name:     "redis",
	ref:      "storeops.local/standin-redis:7.0-bookworm",
	packages: []string{"redis-server"},
	user:     [3]string{"redis", "/var/lib/redis", "/usr/sbin/nologin"},
	config: devcluster.ImageConfig{
		Cmd: []string{"redis-server"}, Env: []string{"PATH=" + debianPath}, User: "999:999", WorkingDir: "/data",
	},
}

// postgresEntrypoint is the stand-in of the official image's
// docker-entrypoint.sh, for the variables the chart sets.
const postgresEntrypoint = `#!/bin/sh
# Stand-in for the official postgres image's entrypoint (storeops
# test/real): POSTGRES_USER, POSTGRES_DB, POSTGRES_PASSWORD(_FILE), PGDATA.
set -eu
if [ "${1:-postgres}" != postgres ]; then exec "$@"; fi
: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then POSTGRES_PASSWORD="$(cat "$POSTGRES_PASSWORD_FILE")"; fi
if [ -z "${POSTGRES_PASSWORD:-}" ]; then
	echo "error: POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE must be set" >&2
	exit 1
fi
mkdir -p "$PGDATA"
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	pwfile="$(mktemp)"
	printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
	initdb -D "$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" -E UTF8 --auth-local=trust --auth-host=scram-sha-256
	rm -f "$pwfile"
	echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
	# A temporary server on the socket only, as the official image does.
	pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
	if [ "$POSTGRES_DB" != postgres ]; then
		psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -c "CREATE DATABASE \"$POSTGRES_DB\""
	fi
	pg_ctl -D "$PGDATA" -m fast -w stop
	echo "database initialised"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*'
`

var postgresStandin = standin{
	name:     "postgres",
	ref:      "storeops.local/standin-postgres:15-bookworm",
	packages: []string{"postgresql-15"},
	user:     [3]string{"postgres", "/var/lib/postgresql", "/bin/sh"},
	hooks: []string{
		// No cluster of Debian's own: the entrypoint makes one in PGDATA.
		`mkdir -p "$1/etc/postgresql-common" && echo "create_main_cluster = false" > "$1/etc/postgresql-common/createcluster.conf"`,
	},
	files: []devcluster.ImageFile{{Path: "/usr/local/bin/docker-entrypoint.sh", Mode: 0o755, Data: []byte(postgresEntrypoint)}},
	config: devcluster.ImageConfig{
		Entrypoint: []string{"/usr/local/bin/docker-entrypoint.sh"}, Cmd: []string{"postgres"},
		Env:  []string{"PATH=/usr/lib/postgresql/15/bin:" + debianPath, "PGDATA=/var/lib/postgresql/data"},
		User: "999:999",
	},
}

// buildStandin returns the OCI archive of s, building its root filesystem
// with mmdebstrap once per recipe into .cache/real-images (about 1-2
// minutes from the Debian mirror).
func buildStandin(t *testing.T, s standin) string {
	t.Helper()
	return buildStandinAs(t, s, s.ref)
}

// buildStandinAs is buildStandin with the image named ref.
func buildStandinAs(t *testing.T, s standin, ref string) string {
	t.Helper()
	if _, err := exec.LookPath("mmdebstrap"); err != nil {
		t.Skip("stand-in images need mmdebstrap (apt-get install mmdebstrap; make test-real installs it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	recipe := devcluster.DebianRootFS{Name: s.name, Packages: s.packages, User: s.user, Hooks: s.hooks, Customize: s.customize}
	rootfs, err := recipe.Build(ctx, filepath.Join(cacheDir(t), "real-images"), testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	layers := []devcluster.Layer{{TarPath: rootfs}}
	if len(s.files) > 0 {
		layers = append(layers, devcluster.Layer{Files: s.files})
	}
	archive := filepath.Join(t.TempDir(), s.name+".oci.tar")
	if err := devcluster.WriteOCIImage(archive, ref, layers, s.config); err != nil {
		t.Fatal(err)
	}
	return archive
}

// cacheDir is $CACHE_DIR or the repository's .cache.
func cacheDir(t *testing.T) string {
	t.Helper()
	if cache := os.Getenv("CACHE_DIR"); cache != "" {
		return cache
	}
	root, err := reporoot.Find()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, ".cache")
}

// testLog writes lines to the test's log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestStandinRedis runs the Redis stand-in with the Medusa chart's command
// and readiness probe, and talks to it from a Job.
func TestStandinRedis(t *testing.T) {
	c := testcluster.Get(t)
	if !c.RealNode {
		t.Skip("the cluster has no real node")
	}
	c.ImportImage(t, buildStandin(t, redisStandin))
	ns := c.Namespace(t, "standin-redis")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	secret := credentials(ctx, t, c, ns, "redis-password")
	spec := standinSpec(redisStandin.ref, secret)
	spec.Containers[0].Command = []string{"sh", "-c", `set -eu
umask 077
printf 'requirepass %s\n' "$(cat /credentials/redis-password)" > /run/redis/redis.conf
exec redis-server /run/redis/redis.conf --save '' --appendonly no --maxmemory 64mb --maxmemory-policy noeviction`}
	spec.Containers[0].ReadinessProbe = &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c",
			`REDISCLI_AUTH="$(cat /credentials/redis-password)" redis-cli -h 127.0.0.1 ping | grep -q PONG`}}},
		PeriodSeconds: 1,
	}
	spec.Containers[0].VolumeMounts = append(spec.Containers[0].VolumeMounts,
		corev1.VolumeMount{Name: "data", MountPath: "/data"}, corev1.VolumeMount{Name: "config", MountPath: "/run/redis"})
	spec.Volumes = append(spec.Volumes,
		corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.Volume{Name: "config", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}})
	pod := runReady(ctx, t, c, ns, "redis", spec)
	out := runJob(ctx, t, c, ns, "redis-client", redisStandin.ref, secret,
		fmt.Sprintf(`export REDISCLI_AUTH="$(cat /credentials/redis-password)"; redis-cli -h %s set k v && redis-cli -h %s get k && redis-cli -h %s info server | grep redis_version`,
			pod.Status.PodIP, pod.Status.PodIP, pod.Status.PodIP))
	if !strings.Contains(out, "OK") || !strings.Contains(out, "\nv") {
		t.Errorf("redis-cli said %q", out)
	}
}

// TestStandinPostgres runs the PostgreSQL stand-in with the Medusa chart's
// environment, volumes and probes, and queries it over TCP with the
// password from a Job.
func TestStandinPostgres(t *testing.T) {
	c := testcluster.Get(t)
	if !c.RealNode {
		t.Skip("the cluster has no real node")
	}
	c.ImportImage(t, buildStandin(t, postgresStandin))
	ns := c.Namespace(t, "standin-postgres")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	secret := credentials(ctx, t, c, ns, "postgres-password")
	spec := standinSpec(postgresStandin.ref, secret)
	spec.Containers[0].Env = []corev1.EnvVar{
		{Name: "POSTGRES_USER", Value: "medusa"},
		{Name: "POSTGRES_DB", Value: "medusa"},
		{Name: "POSTGRES_PASSWORD_FILE", Value: "/credentials/postgres-password"},
		{Name: "PGDATA", Value: "/var/lib/postgresql/data/pgdata"},
	}
	isReady := &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c",
			`pg_isready --host=127.0.0.1 --username="$POSTGRES_USER" --dbname="$POSTGRES_DB"`}}},
		PeriodSeconds: 1, FailureThreshold: 120,
	}
	spec.Containers[0].StartupProbe = isReady
	spec.Containers[0].ReadinessProbe = isReady
	for _, v := range []struct{ name, path string }{{"data", "/var/lib/postgresql/data"}, {"run", "/var/run/postgresql"}, {"tmp", "/tmp"}} {
		spec.Containers[0].VolumeMounts = append(spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: v.name, MountPath: v.path})
		spec.Volumes = append(spec.Volumes, corev1.Volume{Name: v.name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	}
	pod := runReady(ctx, t, c, ns, "postgres", spec)
	if logs := podLogs(ctx, t, c.Client, ns, "postgres"); !strings.Contains(logs, "database initialised") {
		t.Errorf("postgres logs: %s", logs)
	}
	out := runJob(ctx, t, c, ns, "psql", postgresStandin.ref, secret, fmt.Sprintf(
		`PGPASSWORD="$(cat /credentials/postgres-password)" psql -v ON_ERROR_STOP=1 -h %s -U medusa -d medusa -At -c "create table t (x text); insert into t values ('stored'); select x from t; select current_user"`,
		pod.Status.PodIP))
	if !strings.Contains(out, "stored") || !strings.Contains(out, "medusa") {
		t.Errorf("psql said %q", out)
	}
	// A wrong password is refused: the server checks passwords over TCP.
	if out, ok := tryJob(ctx, t, c, ns, "psql-wrong", postgresStandin.ref, secret, fmt.Sprintf(
		`PGPASSWORD=wrong psql -h %s -U medusa -d medusa -c "select 1"`, pod.Status.PodIP)); ok {
		t.Errorf("a wrong password was accepted: %q", out)
	}
}

// credentials makes a Secret with one generated key and returns its name.
func credentials(ctx context.Context, t *testing.T, c *testcluster.Cluster, ns, key string) string {
	t.Helper()
	pw := fmt.Sprintf("pw%d", time.Now().UnixNano())
	if _, err := c.Client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "store-credentials"},
		StringData: map[string]string{key: pw},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return "store-credentials"
}

// standinSpec runs image on the real node as uid/gid 999, as the chart
// does, with the credentials mounted at /credentials.
func standinSpec(image, secret string) corev1.PodSpec {
	spec := onRealNode(nil, corev1.RestartPolicyAlways)
	spec.Containers[0].Image = image
	spec.Containers[0].Args = nil
	spec.Containers[0].Resources = corev1.ResourceRequirements{}
	spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr(int64(999)), RunAsGroup: ptr(int64(999)), FSGroup: ptr(int64(999)), RunAsNonRoot: ptr(true)}
	spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "credentials", MountPath: "/credentials", ReadOnly: true}}
	spec.Volumes = []corev1.Volume{{Name: "credentials", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret}}}}
	return spec
}

func runReady(ctx context.Context, t *testing.T, c *testcluster.Cluster, ns, name string, spec corev1.PodSpec) *corev1.Pod {
	t.Helper()
	began := time.Now()
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := waitPod(ctx, t, c.Client, ns, name, func(p *corev1.Pod) bool {
		return podReady(p) || (len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].RestartCount > 0)
	})
	if !podReady(pod) {
		t.Fatalf("%s restarted: %+v\nlogs: %s", name, pod.Status.ContainerStatuses, podLogs(ctx, t, c.Client, ns, name))
	}
	t.Logf("%s Ready after %s at %s", name, time.Since(began).Round(100*time.Millisecond), pod.Status.PodIP)
	return pod
}

func runJob(ctx context.Context, t *testing.T, c *testcluster.Cluster, ns, name, image, secret, script string) string {
	t.Helper()
	out, ok := tryJob(ctx, t, c, ns, name, image, secret, script)
	if !ok {
		t.Fatalf("Job %s failed: %s", name, out)
	}
	t.Logf("Job %s: %s", name, strings.TrimSpace(out))
	return out
}

// tryJob runs script with sh in image as a Job of one attempt and returns
// its pod's logs and whether it succeeded.
func tryJob(ctx context.Context, t *testing.T, c *testcluster.Cluster, ns, name, image, secret, script string) (string, bool) {
	t.Helper()
	spec := standinSpec(image, secret)
	spec.RestartPolicy = corev1.RestartPolicyNever
	spec.Containers[0].Command = []string{"sh", "-c", script}
	backoff := int32(0)
	if _, err := c.Client.BatchV1().Jobs(ns).Create(ctx, &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       batchv1.JobSpec{BackoffLimit: &backoff, Template: corev1.PodTemplateSpec{Spec: spec}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		j, err := c.Client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if j.Status.Succeeded > 0 || j.Status.Failed > 0 {
			pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + name})
			if err != nil || len(pods.Items) == 0 {
				t.Fatalf("pods of Job %s: %v", name, err)
			}
			return podLogs(ctx, t, c.Client, ns, pods.Items[0].Name), j.Status.Succeeded > 0
		}
		select {
		case <-ctx.Done():
			t.Fatalf("Job %s: %v", name, ctx.Err())
		case <-time.After(300 * time.Millisecond):
		}
	}
}

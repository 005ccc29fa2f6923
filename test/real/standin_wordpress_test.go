package real

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/storeops/storeops/internal/devcluster"
)

// Stand-ins for the third-party images of the WooCommerce chart
// (docker.io/library/wordpress, its wordpress:cli tag, and
// docker.io/library/mysql), which cannot be pulled from these machines:
// Docker Hub, wordpress.org and GitHub are unreachable, so neither the
// official images nor WP-CLI nor the WooCommerce plugin can be fetched.
// They are built from Debian bookworm's packages with mmdebstrap and honour
// the part of the official images' contract that
// charts/woocommerce/templates/{wordpress,mysql,setup-job}.yaml rely on:
//
//   - WordPress: Debian's wordpress 6.1 (the chart pins 6.8) with Apache
//     and mod_php 8.2 (the chart pins PHP 8.3); WordPress core in
//     /usr/src/wordpress with a wp-config-docker.php that reads the
//     database settings, keys and salts from WORDPRESS_* or their *_FILE
//     variants and evaluates WORDPRESS_CONFIG_EXTRA; an entrypoint that
//     copies core into /var/www/html (never over what is there, so the
//     wp-content volume keeps its files) and writes wp-config.php from
//     wp-config-docker.php; apache2-foreground, which runs Apache on port
//     80 as any user (the chart runs it as www-data, uid 33); ini files of
//     /usr/local/etc/php/conf.d read by PHP.
//   - wordpress:cli: the same root filesystem with php on PATH and, at
//     /usr/local/bin/wp, testdata/wp-test-shim.php: a TEST SHIM, not
//     WP-CLI, that implements only `core is-installed`, `core install` and
//     `core update-db` through WordPress's PHP API and refuses every other
//     command, so setup.sh runs for real up to its first WooCommerce step.
//   - MySQL: MariaDB 10.11 (the chart pins MySQL 8.4), uid and gid 999, an
//     entrypoint that reads MYSQL_* or MARIADB_* (ROOT_PASSWORD, DATABASE,
//     USER, PASSWORD, each also as *_FILE), takes the data directory from
//     the --datadir argument the chart passes, initialises an empty one
//     with a temporary server that listens on no TCP port, then runs the
//     server on *:3306; mysql and mysqladmin on PATH for the probes.

var wordpressStandin = standin{
	name: "wordpress",
	ref:  "storeops.local/standin-wordpress:6.1-bookworm",
	packages: []string{"wordpress", "wordpress-theme-twentytwentythree", "apache2", "libapache2-mod-php8.2",
		"php8.2-cli", "php8.2-mysql"},
	// www-data (uid and gid 33) comes with Debian's base-passwd.
	customize: []string{`set -e
r="$1"
chroot "$r" a2dismod -q mpm_event >/dev/null 2>&1 || true
chroot "$r" a2enmod -q mpm_prefork php8.2 rewrite
# WordPress core as the official image has it: /usr/src/wordpress, Debian's
# symlinks to its shared libraries resolved, Debian's wp-config.php (which
# reads /etc/wordpress) replaced by wp-config-docker.php (a later layer).
mkdir -p "$r/usr/src"
chroot "$r" cp -RL /usr/share/wordpress /usr/src/wordpress
rm -f "$r/usr/src/wordpress/wp-config.php" "$r/usr/src/wordpress/.htaccess"
chown -R 33:33 "$r/usr/src/wordpress"
rm -f "$r/var/www/html/index.html"
chown 33:33 "$r/var/www/html"
mkdir -p "$r/usr/local/etc/php/conf.d"
for sapi in apache2 cli; do ln -s /usr/local/etc/php/conf.d/zz-storeops.ini "$r/etc/php/8.2/$sapi/conf.d/zz-storeops.ini"; done`},
	files: []devcluster.ImageFile{
		{Path: "/usr/local/bin/docker-entrypoint.sh", Mode: 0o755, Data: []byte(wordpressEntrypoint)},
		{Path: "/usr/local/bin/apache2-foreground", Mode: 0o755, Data: []byte(apache2Foreground)},
		{Path: "/usr/src/wordpress/wp-config-docker.php", Mode: 0o644, Data: []byte(wpConfigDocker)},
	},
	config: devcluster.ImageConfig{
		Entrypoint: []string{"/usr/local/bin/docker-entrypoint.sh"}, Cmd: []string{"apache2-foreground"},
		Env: []string{"PATH=" + debianPath}, WorkingDir: "/var/www/html",
	},
}

// wordpressCLIStandin returns the wordpress:cli stand-in: the WordPress
// stand-in's root filesystem with the wp test shim.
func wordpressCLIStandin(t *testing.T) standin {
	t.Helper()
	shim, err := os.ReadFile(filepath.Join("testdata", "wp-test-shim.php"))
	if err != nil {
		t.Fatal(err)
	}
	s := wordpressStandin
	s.ref = "storeops.local/standin-wordpress-cli-shim:6.1-bookworm"
	s.files = append(append([]devcluster.ImageFile{}, s.files...), devcluster.ImageFile{Path: "/usr/local/bin/wp", Mode: 0o755, Data: shim})
	s.config = devcluster.ImageConfig{Cmd: []string{"sh"}, Env: []string{"PATH=" + debianPath}, WorkingDir: "/var/www/html", User: "33:33"}
	return s
}

const wordpressEntrypoint = `#!/bin/sh
# Stand-in for the official wordpress image's docker-entrypoint.sh (storeops
# test/real): WordPress core copied into /var/www/html without replacing
# anything there, wp-config.php from wp-config-docker.php.
set -eu
case "${1:-}" in
apache2*|php-fpm) ;;
*) exec "$@" ;;
esac
if [ ! -e /var/www/html/index.php ] || [ ! -e /var/www/html/wp-includes/version.php ]; then
	cp -Rn /usr/src/wordpress/. /var/www/html/
	echo "WordPress has been copied to /var/www/html"
fi
if [ ! -s /var/www/html/wp-config.php ] && env | grep -q '^WORDPRESS_'; then
	cp /usr/src/wordpress/wp-config-docker.php /var/www/html/wp-config.php
	echo "wp-config.php written from wp-config-docker.php"
fi
exec "$@"
`

const apache2Foreground = `#!/bin/sh
# Apache in the foreground as any user, its logs on stdout and stderr.
set -e
. /etc/apache2/envvars
export APACHE_RUN_DIR=/tmp/apache2/run APACHE_LOCK_DIR=/tmp/apache2/lock APACHE_LOG_DIR=/tmp/apache2/log
export APACHE_PID_FILE=/tmp/apache2/run/apache2.pid
mkdir -p "$APACHE_RUN_DIR" "$APACHE_LOCK_DIR" "$APACHE_LOG_DIR"
ln -sfT /dev/stderr "$APACHE_LOG_DIR/error.log"
ln -sfT /dev/stdout "$APACHE_LOG_DIR/access.log"
ln -sfT /dev/stdout "$APACHE_LOG_DIR/other_vhosts_access.log"
rm -f "$APACHE_PID_FILE"
exec apache2 -DFOREGROUND "$@"
`

// wpConfigDocker does what the official image's wp-config-docker.php does.
const wpConfigDocker = `<?php
// wp-config.php of the WordPress stand-in (storeops test/real), as the
// official image's wp-config-docker.php: every setting from WORDPRESS_*,
// or from the file named by WORDPRESS_*_FILE.
if (!function_exists('getenv_docker')) {
	function getenv_docker($env, $default) {
		if ($fileEnv = getenv($env . '_FILE')) {
			return rtrim(file_get_contents($fileEnv), "\r\n");
		} else if (($val = getenv($env)) !== false) {
			return $val;
		}
		return $default;
	}
}
define('DB_NAME', getenv_docker('WORDPRESS_DB_NAME', 'wordpress'));
define('DB_USER', getenv_docker('WORDPRESS_DB_USER', 'example username'));
define('DB_PASSWORD', getenv_docker('WORDPRESS_DB_PASSWORD', 'example password'));
define('DB_HOST', getenv_docker('WORDPRESS_DB_HOST', 'mysql'));
define('DB_CHARSET', getenv_docker('WORDPRESS_DB_CHARSET', 'utf8'));
define('DB_COLLATE', getenv_docker('WORDPRESS_DB_COLLATE', ''));
define('AUTH_KEY', getenv_docker('WORDPRESS_AUTH_KEY', 'put your unique phrase here'));
define('SECURE_AUTH_KEY', getenv_docker('WORDPRESS_SECURE_AUTH_KEY', 'put your unique phrase here'));
define('LOGGED_IN_KEY', getenv_docker('WORDPRESS_LOGGED_IN_KEY', 'put your unique phrase here'));
define('NONCE_KEY', getenv_docker('WORDPRESS_NONCE_KEY', 'put your unique phrase here'));
define('AUTH_SALT', getenv_docker('WORDPRESS_AUTH_SALT', 'put your unique phrase here'));
define('SECURE_AUTH_SALT', getenv_docker('WORDPRESS_SECURE_AUTH_SALT', 'put your unique phrase here'));
define('LOGGED_IN_SALT', getenv_docker('WORDPRESS_LOGGED_IN_SALT', 'put your unique phrase here'));
define('NONCE_SALT', getenv_docker('WORDPRESS_NONCE_SALT', 'put your unique phrase here'));
$table_prefix = getenv_docker('WORDPRESS_TABLE_PREFIX', 'wp_');
define('WP_DEBUG', !!getenv_docker('WORDPRESS_DEBUG', ''));
if (isset($_SERVER['HTTP_X_FORWARDED_PROTO']) && strpos($_SERVER['HTTP_X_FORWARDED_PROTO'], 'https') !== false) {
	$_SERVER['HTTPS'] = 'on';
}
if ($configExtra = getenv_docker('WORDPRESS_CONFIG_EXTRA', '')) {
	eval($configExtra);
}
if (!defined('ABSPATH')) {
	define('ABSPATH', __DIR__ . '/');
}
require_once ABSPATH . 'wp-settings.php';
`

var mariadbStandin = standin{
	name:     "mariadb",
	ref:      "storeops.local/standin-mariadb:10.11-bookworm",
	packages: []string{"mariadb-server"},
	user:     [3]string{"mysql", "/nonexistent", "/bin/false"},
	customize: []string{`set -e
mkdir -p "$1/run/mysqld" && chown 999:999 "$1/run/mysqld" && chmod 1777 "$1/run/mysqld"
# Debian's own data directory: the chart mounts a volume over /var/lib/mysql.
rm -rf "$1/var/lib/mysql" && mkdir -p "$1/var/lib/mysql" && chown 999:999 "$1/var/lib/mysql"`},
	files: []devcluster.ImageFile{{Path: "/usr/local/bin/docker-entrypoint.sh", Mode: 0o755, Data: []byte(mariadbEntrypoint)}},
	config: devcluster.ImageConfig{
		Entrypoint: []string{"/usr/local/bin/docker-entrypoint.sh"}, Cmd: []string{"mariadbd"},
		Env: []string{"PATH=" + debianPath}, User: "999:999",
	},
}

// mariadbEntrypoint is the stand-in of the official mysql and mariadb
// images' docker-entrypoint.sh, for the variables the chart sets.
const mariadbEntrypoint = `#!/bin/sh
# Stand-in for the official mysql/mariadb images' entrypoint (storeops
# test/real): MYSQL_* or MARIADB_* ROOT_PASSWORD, DATABASE, USER, PASSWORD,
# each also as *_FILE; the data directory of --datadir.
set -eu
case "${1:-}" in
-*|"") set -- mariadbd "$@" ;;
mysqld|mariadbd) shift; set -- mariadbd "$@" ;;
*) exec "$@" ;;
esac
# value NAME: MARIADB_NAME or MYSQL_NAME, or the file *_FILE names.
value() {
	for p in MARIADB MYSQL; do
		eval "f=\${${p}_$1_FILE:-} v=\${${p}_$1:-}"
		if [ -n "$f" ]; then cat "$f"; return; fi
		if [ -n "$v" ]; then printf '%s' "$v"; return; fi
	done
}
# quote S: S as the inside of an SQL string.
quote() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g"; }
datadir=/var/lib/mysql
for a in "$@"; do
	case "$a" in --datadir=*) datadir=${a#--datadir=} ;; esac
done
run=/run/mysqld
[ -w "$run" ] || run=${TMPDIR:-/tmp}
sock=$run/mysqld.sock
set -- "$@" --socket="$sock" --pid-file="$run/mysqld.pid" --skip-name-resolve
if [ ! -d "$datadir/mysql" ]; then
	root_pw=$(value ROOT_PASSWORD)
	if [ -z "$root_pw" ]; then
		echo "error: MYSQL_ROOT_PASSWORD(_FILE) or MARIADB_ROOT_PASSWORD(_FILE) must be set" >&2
		exit 1
	fi
	db=$(value DATABASE)
	user=$(value USER)
	pw=$(value PASSWORD)
	mkdir -p "$datadir"
	mariadb-install-db --datadir="$datadir" --auth-root-authentication-method=normal --skip-test-db >/dev/null
	# A temporary server on the socket only, as the official images do.
	"$@" --skip-networking &
	pid=$!
	i=0
	until mariadb-admin --socket="$sock" --user=root ping >/dev/null 2>&1; do
		i=$((i + 1))
		if [ "$i" -ge 120 ] || ! kill -0 "$pid" 2>/dev/null; then echo "error: the temporary server did not start" >&2; exit 1; fi
		sleep 0.5
	done
	{
		# mariadb-install-db makes root at 127.0.0.1, ::1 and the host name
		# without a password, and anonymous users; they would match before
		# root@'%'. Only root@localhost stays, as in the official images.
		echo "DELETE FROM mysql.global_priv WHERE (User = 'root' AND Host <> 'localhost') OR User = '';"
		echo "FLUSH PRIVILEGES;"
		echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '$(quote "$root_pw")';"
		echo "CREATE USER 'root'@'%' IDENTIFIED BY '$(quote "$root_pw")';"
		echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
		if [ -n "$db" ]; then echo "CREATE DATABASE IF NOT EXISTS \` + "`" + `$db\` + "`" + `;"; fi
		if [ -n "$user" ] && [ -n "$pw" ]; then
			echo "CREATE USER '$(quote "$user")'@'%' IDENTIFIED BY '$(quote "$pw")';"
			if [ -n "$db" ]; then echo "GRANT ALL ON \` + "`" + `$db\` + "`" + `.* TO '$(quote "$user")'@'%';"; fi
		fi
		echo "FLUSH PRIVILEGES;"
	} | mariadb --socket="$sock" --user=root
	MYSQL_PWD=$root_pw mariadb-admin --socket="$sock" --user=root shutdown
	wait "$pid" || true
	echo "database initialised"
fi
exec "$@" --bind-address=0.0.0.0 --port=3306
`

<?php
/*
 * wp: a TEST SHIM for storeops' test/real, standing in for WP-CLI, which
 * cannot be downloaded on the machines these tests run on. It is NOT
 * WP-CLI. It implements, through WordPress's own PHP API, only the
 * commands charts/woocommerce/files/setup.sh runs before WooCommerce:
 *
 *   wp core is-installed    exit 0 if installed, 1 if not (is_blog_installed)
 *   wp core install --url= --title= --admin_user= --admin_email= [--skip-email]
 *                   [--prompt=admin_password]   (the password read from stdin)
 *                           wp_install(), as WP-CLI calls it
 *   wp core update-db       wp_upgrade() when the schema is older
 *
 * Every other command (plugin, option, wc, post, import, cron, ...) exits
 * 1 saying it is not implemented, so a script that needs it stops there.
 */

$args = array_slice($argv, 1);
$pos = array();
$opt = array();
foreach ($args as $a) {
	if (strncmp($a, '--', 2) === 0) {
		$kv = explode('=', substr($a, 2), 2);
		$opt[$kv[0]] = isset($kv[1]) ? $kv[1] : true;
	} else {
		$pos[] = $a;
	}
}
$cmd = implode(' ', array_slice($pos, 0, 2));

function shim_fail($msg) {
	fwrite(STDERR, "wp (test shim): $msg\n");
	exit(1);
}

if (!in_array($cmd, array('core is-installed', 'core install', 'core update-db'), true)) {
	shim_fail("'" . implode(' ', $args) . "' is not implemented (only core is-installed, core install and core update-db are; the rest needs WP-CLI)");
}

// WordPress ends the request with die() (status 0) when it cannot go on,
// e.g. without a database: that must not read as success.
$GLOBALS['shim_done'] = false;
register_shutdown_function(function () {
	if (!$GLOBALS['shim_done']) {
		fwrite(STDERR, "wp (test shim): WordPress stopped before the command finished\n");
		exit(1);
	}
});

$url = isset($opt['url']) ? $opt['url'] : '';
$host = $url !== '' ? parse_url($url, PHP_URL_HOST) : 'localhost';
$_SERVER['HTTP_HOST'] = $host;
$_SERVER['SERVER_NAME'] = $host;
$_SERVER['SERVER_PORT'] = '80';
$_SERVER['REQUEST_URI'] = '/';
$_SERVER['REQUEST_METHOD'] = 'GET';

if ($cmd !== 'core update-db') {
	// As WP-CLI does: load WordPress without its "not installed" redirect.
	define('WP_INSTALLING', true);
}
$path = isset($opt['path']) ? $opt['path'] : getcwd();
require rtrim($path, '/') . '/wp-load.php';

switch ($cmd) {
case 'core is-installed':
	$installed = is_blog_installed();
	$GLOBALS['shim_done'] = true;
	exit($installed ? 0 : 1);

case 'core install':
	foreach (array('url', 'title', 'admin_user', 'admin_email') as $k) {
		if (!isset($opt[$k]) || $opt[$k] === true || $opt[$k] === '') {
			shim_fail("core install needs --$k");
		}
	}
	if (is_blog_installed()) {
		echo "WordPress is already installed.\n";
		$GLOBALS['shim_done'] = true;
		exit(0);
	}
	if (isset($opt['prompt']) && $opt['prompt'] === 'admin_password') {
		$password = rtrim((string) stream_get_contents(STDIN), "\r\n");
	} elseif (isset($opt['admin_password'])) {
		$password = $opt['admin_password'];
	} else {
		shim_fail('core install needs --prompt=admin_password or --admin_password');
	}
	if ($password === '') {
		shim_fail('empty admin password');
	}
	if (isset($opt['skip-email'])) {
		// wp_new_blog_notification is pluggable: defined first, it sends nothing.
		function wp_new_blog_notification($blog_title, $blog_url, $user_id, $password) {}
	}
	require_once ABSPATH . 'wp-admin/includes/upgrade.php';
	$result = wp_install($opt['title'], $opt['admin_user'], $opt['admin_email'], true, '', wp_slash($password));
	if (is_wp_error($result)) {
		shim_fail('install failed: ' . $result->get_error_message());
	}
	echo "Success: WordPress installed successfully.\n";
	$GLOBALS['shim_done'] = true;
	exit(0);

case 'core update-db':
	require_once ABSPATH . 'wp-admin/includes/upgrade.php';
	global $wp_db_version;
	$current = (int) get_option('db_version');
	if ($current === (int) $wp_db_version) {
		echo "Success: WordPress database already at latest db version $wp_db_version.\n";
	} else {
		wp_upgrade();
		echo "Success: WordPress database upgraded from db version $current to $wp_db_version.\n";
	}
	$GLOBALS['shim_done'] = true;
	exit(0);
}

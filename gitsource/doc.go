// Package gitsource is everything storeops says to Git and to the Git
// host: it reads the desired stores file from a branch, verifies push
// webhooks, and writes proposed changes to a branch.
//
// # Reading
//
// A Source tracks one file (stores.yaml by default) on one branch of one
// remote repository. Source.Fetch first lists the remote's refs, which
// costs one small HTTP request or SSH round trip. When the branch still
// points at the commit of the previous successful Fetch, it returns that
// snapshot again with Unchanged set, without fetching anything. Otherwise
// it makes a shallow (depth 1, single branch) fetch into its cache, a
// bare repository in Config.Dir or in memory, and reads the file from the
// branch's commit. A Source may track a ref that is no branch instead
// (Config.Ref), such as the refs/pull/<N>/head a forge keeps of the head
// of a pull request, a fork's included, in the base repository; it is
// fetched into refs/fetched/ of the cache, apart from the branches.
//
// Fetch never keeps a failed result: when the remote is unreachable,
// credentials are refused, the branch or file is missing, or the file is
// too large, it returns an error and the caller keeps applying its last
// good Snapshot. The same holds when the file is fetched fine but does
// not parse or validate: that is the caller's check, and the caller's
// last good snapshot stays in force. Fetch remembers only snapshots it
// returned without error, so once the remote or the file is repaired the
// next Fetch returns the new revision. A commit whose file is missing or
// too large fails with a *RevisionError naming it; the caller (package
// intake) remembers such bad revisions, as it remembers those whose file
// does not parse, and lists the remote's refs with Head rather than
// fetching again while the branch stays on one.
//
// Each Snapshot carries its commit object as Git stores it
// (Snapshot.Commit). A KeyRing, read from an ASCII-armored OpenPGP
// keyring, verifies that the commit is signed by one of its keys
// (go-git's Commit.Verify); the caller refuses a revision that is not,
// as it refuses one whose file does not parse.
//
// # Webhooks
//
// ParsePush authenticates a push notification from GitHub, GitLab, Gitea
// or any sender that signs its body the storeops way, and says which
// branch moved to which commit. Its errors wrap sentinels (ErrMethod,
// ErrUnauthorized, ErrTooLarge, ErrBadRequest, ErrIgnoredEvent) that
// HTTPStatus maps to response codes. A webhook only triggers a Fetch;
// the content always comes from Git, never from the webhook body.
// WebhookSecrets reads one secret per provider from files or the
// environment, and Deliveries remembers recent delivery IDs so that a
// delivery received twice triggers once.
//
// # Writing
//
// Source.Propose commits one file's new content on a branch created from
// the current head of a base branch and pushes that branch, for a pull
// request to be opened on it. Proposing the same content again on an
// unchanged base is a no-op; a branch left behind on an older base is
// rebuilt from the current base and force-pushed.
//
// # Credentials
//
// Credentials come from files or environment variables, never from
// command-line values, see AuthFromEnvAndFiles. Auth redacts itself when
// printed or logged.
package gitsource

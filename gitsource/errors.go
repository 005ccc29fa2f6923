package gitsource

import "errors"

// Errors returned by this package, wrapped with context; test them with
// errors.Is. ErrConfig, ErrAuthFailed, ErrBranchNotFound,
// ErrFileNotFound and ErrFileTooLarge need a human to act; retrying
// will not help. Other Fetch errors (network, timeouts) are transient.
var (
	// ErrConfig means the Config, Auth or a request is invalid.
	ErrConfig = errors.New("invalid git source configuration")
	// ErrAuthFailed means the Git host refused the credentials, or
	// demanded credentials that were not given.
	ErrAuthFailed = errors.New("git authentication failed")
	// ErrBranchNotFound means the remote has no such branch (or no
	// Config.Ref).
	ErrBranchNotFound = errors.New("branch not found")
	// ErrFileNotFound means the commit has no regular file at the path.
	ErrFileNotFound = errors.New("file not found")
	// ErrFileTooLarge means the file is larger than Config.MaxFileSize.
	ErrFileTooLarge = errors.New("file too large")
	// ErrNoCache: no on-disk cache holds a fetched revision (Cached).
	ErrNoCache = errors.New("no cached revision")
	// ErrNoChange means Propose was asked to commit the content the
	// base branch already has.
	ErrNoChange = errors.New("content already on the base branch")

	// ErrMethod means a webhook request did not use POST (405).
	ErrMethod = errors.New("webhook: method not allowed")
	// ErrUnauthorized means a webhook request carried no valid
	// signature or token, or no secret is configured (401).
	ErrUnauthorized = errors.New("webhook: unauthorized")
	// ErrTooLarge means a webhook body exceeded its limit (413).
	ErrTooLarge = errors.New("webhook: body too large")
	// ErrBadRequest means an authenticated webhook request could not be
	// understood: missing event header, malformed JSON, bad fields (400).
	ErrBadRequest = errors.New("webhook: bad request")
	// ErrIgnoredEvent means an authenticated webhook that is not a
	// branch push (a ping, a tag push): answer 202 and trigger nothing.
	ErrIgnoredEvent = errors.New("webhook: event ignored")
)

// RevisionError is the error of a Fetch whose commit has no usable file
// (it wraps ErrFileNotFound or ErrFileTooLarge): the file at Revision
// will never be read, whereas a later commit may fix it.
type RevisionError struct {
	// Revision is the commit's SHA-1 in hex.
	Revision string
	Err      error
}

func (e *RevisionError) Error() string { return e.Err.Error() }

func (e *RevisionError) Unwrap() error { return e.Err }

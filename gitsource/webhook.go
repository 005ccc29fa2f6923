package gitsource

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Provider is the kind of sender of a push webhook.
type Provider string

// Providers understood by ParsePush.
const (
	// GitHub signs the body: X-Hub-Signature-256: sha256=<hex HMAC-SHA256>,
	// and names the event in X-GitHub-Event.
	GitHub Provider = "github"
	// GitLab sends the secret itself in X-Gitlab-Token and names the
	// event in X-Gitlab-Event ("Push Hook").
	GitLab Provider = "gitlab"
	// Gitea signs the body: X-Gitea-Signature: <hex HMAC-SHA256>, and
	// names the event in X-Gitea-Event.
	Gitea Provider = "gitea"
	// Generic is any sender that POSTs {"ref":"refs/heads/<branch>",
	// "after":"<sha>"} signed with X-Storeops-Signature: sha256=<hex
	// HMAC-SHA256>, for example a CI job.
	Generic Provider = "generic"
)

// Webhook headers.
const (
	HeaderGitHubSignature   = "X-Hub-Signature-256"
	HeaderGitHubEvent       = "X-GitHub-Event"
	HeaderGitLabToken       = "X-Gitlab-Token"
	HeaderGitLabEvent       = "X-Gitlab-Event"
	HeaderGiteaSignature    = "X-Gitea-Signature"
	HeaderGiteaEvent        = "X-Gitea-Event"
	HeaderStoreopsSignature = "X-Storeops-Signature"
)

// DefaultMaxWebhookBody is the body limit ParsePush applies when given
// maxBody <= 0. Push payloads listing many commits can be large; raise
// it if the forge reports 413 responses.
const DefaultMaxWebhookBody = 1 << 20

// Providers lists every Provider, for flag help and validation.
var Providers = []Provider{GitHub, GitLab, Gitea, Generic}

// ParseProvider returns the Provider named s (case-insensitive), or an
// error wrapping ErrConfig.
func ParseProvider(s string) (Provider, error) {
	for _, p := range Providers {
		if strings.EqualFold(s, string(p)) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: unknown webhook provider %q (want github, gitlab, gitea or generic)", ErrConfig, s)
}

// Push is an authenticated notification that a branch moved.
type Push struct {
	// Provider is who sent it.
	Provider Provider
	// Branch is the short name of the branch pushed to, e.g. "main".
	Branch string
	// Revision is the commit the branch now points to; all zeros when
	// the branch was deleted.
	Revision string
}

// Deleted reports whether the push deleted the branch.
func (p Push) Deleted() bool { return strings.Trim(p.Revision, "0") == "" }

// Tracks reports whether the push moved branch, the branch a Source
// tracks. Pushes to other branches should trigger nothing.
func (p Push) Tracks(branch string) bool { return p.Branch == branch }

// ParsePush authenticates and decodes a push webhook from provider. It
// reads at most maxBody bytes of r's body (DefaultMaxWebhookBody when
// maxBody <= 0) and checks the signature or token against secret before
// looking at anything else in the request, with constant-time
// comparisons. An empty secret refuses every request.
//
// Errors wrap ErrMethod, ErrUnauthorized, ErrTooLarge, ErrBadRequest or
// ErrIgnoredEvent (an authenticated ping or tag push); see HTTPStatus.
// The returned Push says only that something moved: callers fetch the
// content from Git, never from the webhook.
func ParsePush(provider Provider, secret []byte, r *http.Request, maxBody int64) (Push, error) {
	if r.Method != http.MethodPost {
		return Push{}, fmt.Errorf("%w: %s", ErrMethod, r.Method)
	}
	if len(secret) == 0 {
		return Push{}, fmt.Errorf("%w: no webhook secret configured", ErrUnauthorized)
	}
	if maxBody <= 0 {
		maxBody = DefaultMaxWebhookBody
	}
	body, err := readBody(r, maxBody)
	if err != nil {
		return Push{}, err
	}
	var event string
	switch provider {
	case GitHub:
		err = checkHMAC(secret, body, r.Header.Get(HeaderGitHubSignature), "sha256=", HeaderGitHubSignature)
		event = r.Header.Get(HeaderGitHubEvent)
	case GitLab:
		err = checkToken(secret, r.Header.Get(HeaderGitLabToken))
		event = r.Header.Get(HeaderGitLabEvent)
	case Gitea:
		err = checkHMAC(secret, body, r.Header.Get(HeaderGiteaSignature), "", HeaderGiteaSignature)
		event = r.Header.Get(HeaderGiteaEvent)
	case Generic:
		err = checkHMAC(secret, body, r.Header.Get(HeaderStoreopsSignature), "sha256=", HeaderStoreopsSignature)
		event = "push"
	default:
		return Push{}, fmt.Errorf("%w: unknown webhook provider %q", ErrConfig, provider)
	}
	if err != nil {
		return Push{}, err
	}
	if err := checkEvent(provider, event); err != nil {
		return Push{}, err
	}
	return decodePush(provider, body)
}

func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, r.ContentLength, limit)
	}
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, fmt.Errorf("%w: limit %d", ErrTooLarge, mbe.Limit)
		}
		return nil, fmt.Errorf("%w: read body: %w", ErrBadRequest, err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	return body, nil
}

// checkHMAC checks header == prefix + hex(HMAC-SHA256(secret, body)).
func checkHMAC(secret, body []byte, header, prefix, name string) error {
	if header == "" {
		return fmt.Errorf("%w: missing %s header", ErrUnauthorized, name)
	}
	hexSig, ok := strings.CutPrefix(header, prefix)
	if !ok {
		return fmt.Errorf("%w: %s header does not start with %q", ErrUnauthorized, name, prefix)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return fmt.Errorf("%w: %s header is not hex", ErrUnauthorized, name)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return fmt.Errorf("%w: %s does not match the body", ErrUnauthorized, name)
	}
	return nil
}

// checkToken compares token with secret in constant time, hashing both
// first so that the length of the secret does not leak either.
func checkToken(secret []byte, token string) error {
	if token == "" {
		return fmt.Errorf("%w: missing %s header", ErrUnauthorized, HeaderGitLabToken)
	}
	want := sha256.Sum256(secret)
	got := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
		return fmt.Errorf("%w: wrong %s", ErrUnauthorized, HeaderGitLabToken)
	}
	return nil
}

func checkEvent(provider Provider, event string) error {
	want := "push"
	if provider == GitLab {
		want = "Push Hook"
	}
	switch {
	case event == "":
		return fmt.Errorf("%w: missing event header", ErrBadRequest)
	case !strings.EqualFold(event, want):
		return fmt.Errorf("%w: %s event %q", ErrIgnoredEvent, provider, event)
	}
	return nil
}

func decodePush(provider Provider, body []byte) (Push, error) {
	var payload struct {
		Ref   string `json:"ref"`
		After string `json:"after"`
	}
	if err := json.Unmarshal(body, &payload); err != nil {
		return Push{}, fmt.Errorf("%w: JSON body: %w", ErrBadRequest, err)
	}
	if payload.Ref == "" {
		return Push{}, fmt.Errorf("%w: no ref in body", ErrBadRequest)
	}
	branch, ok := strings.CutPrefix(payload.Ref, "refs/heads/")
	if !ok {
		return Push{}, fmt.Errorf("%w: push to %q is not a branch push", ErrIgnoredEvent, payload.Ref)
	}
	if checkBranch(branch) != nil {
		return Push{}, fmt.Errorf("%w: invalid branch in ref %q", ErrBadRequest, payload.Ref)
	}
	if !isCommitID(payload.After) {
		return Push{}, fmt.Errorf("%w: \"after\" is not a commit id: %q", ErrBadRequest, payload.After)
	}
	return Push{Provider: provider, Branch: branch, Revision: strings.ToLower(payload.After)}, nil
}

// isCommitID reports whether s is a full SHA-1 or SHA-256 hex id.
func isCommitID(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// HTTPStatus is the response status for an error from ParsePush:
// 405, 401, 413, 400, 202 for ErrIgnoredEvent, 500 otherwise, and 202
// for a nil error (the push is accepted; a fetch runs later).
func HTTPStatus(err error) int {
	switch {
	case err == nil, errors.Is(err, ErrIgnoredEvent):
		return http.StatusAccepted
	case errors.Is(err, ErrMethod):
		return http.StatusMethodNotAllowed
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

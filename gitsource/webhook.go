package gitsource

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
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
	HeaderGitHubDelivery    = "X-GitHub-Delivery"
	HeaderGitLabToken       = "X-Gitlab-Token"
	HeaderGitLabEvent       = "X-Gitlab-Event"
	HeaderGitLabEventUUID   = "X-Gitlab-Event-UUID"
	HeaderIdempotencyKey    = "Idempotency-Key"
	HeaderGiteaSignature    = "X-Gitea-Signature"
	HeaderGiteaEvent        = "X-Gitea-Event"
	HeaderGiteaDelivery     = "X-Gitea-Delivery"
	HeaderStoreopsSignature = "X-Storeops-Signature"
	HeaderStoreopsDelivery  = "X-Storeops-Delivery"
)

// Body limits. GitHub caps its payloads at 25 MB and a push listing
// many commits gets there, so GitHub deliveries may be that large; they
// are streamed through the signature check and only their first
// DefaultMaxWebhookBody bytes are kept. Deliveries of the other
// providers are read whole and limited to DefaultMaxWebhookBody.
const (
	DefaultMaxWebhookBody = 1 << 20
	GitHubMaxWebhookBody  = 25 << 20
)

// MaxWebhookBody is the body limit ParsePush applies to provider when
// given maxBody <= 0.
func MaxWebhookBody(p Provider) int64 {
	if p == GitHub {
		return GitHubMaxWebhookBody
	}
	return DefaultMaxWebhookBody
}

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
	// Delivery is the sender's ID of this delivery (see DeliveryID), ""
	// when it sent none. It is not covered by the signature.
	Delivery string
}

// Deleted reports whether the push deleted the branch.
func (p Push) Deleted() bool { return strings.Trim(p.Revision, "0") == "" }

// Tracks reports whether the push moved branch, the branch a Source
// tracks. Pushes to other branches should trigger nothing.
func (p Push) Tracks(branch string) bool { return p.Branch == branch }

// maxDeliveryID bounds the length of a delivery ID kept by DeliveryID.
const maxDeliveryID = 128

// DeliveryID returns the ID the provider gives this delivery of a
// webhook, which stays the same when the forge retries or redelivers it:
// X-GitHub-Delivery, X-Gitea-Delivery, GitLab's Idempotency-Key (GitLab
// 17.4 and later) or else X-Gitlab-Event-UUID, and X-Storeops-Delivery
// for generic senders. It returns "" when there is none or it is longer
// than 128 bytes or not printable ASCII.
func DeliveryID(p Provider, h http.Header) string {
	var id string
	switch p {
	case GitHub:
		id = h.Get(HeaderGitHubDelivery)
	case Gitea:
		id = h.Get(HeaderGiteaDelivery)
	case GitLab:
		if id = h.Get(HeaderIdempotencyKey); id == "" {
			id = h.Get(HeaderGitLabEventUUID)
		}
	case Generic:
		id = h.Get(HeaderStoreopsDelivery)
	}
	id = strings.TrimSpace(id)
	if len(id) > maxDeliveryID {
		return ""
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return ""
		}
	}
	return id
}

// ParsePush authenticates and decodes a push webhook from provider. It
// reads at most maxBody bytes of r's body (MaxWebhookBody(provider) when
// maxBody <= 0) and checks the signature or token against secret before
// looking at anything else in the request, with constant-time
// comparisons. An empty secret refuses every request.
//
// Bodies are JSON (application/json) or a form
// (application/x-www-form-urlencoded) whose field "payload" holds the
// JSON, as GitHub and Gitea send when a webhook is set to "form". Each
// signature is checked over what its forge signs: GitHub and generic
// senders sign the body as sent, Gitea signs the JSON payload (for a
// form, the decoded "payload" field).
//
// Errors wrap ErrMethod, ErrUnauthorized, ErrTooLarge, ErrBadRequest or
// ErrIgnoredEvent (an authenticated ping or tag push); see HTTPStatus.
// The returned Push says only that something moved: callers fetch the
// content from Git, never from the webhook. A push that deleted the
// branch is returned without an error; see Push.Deleted.
func ParsePush(provider Provider, secret []byte, r *http.Request, maxBody int64) (Push, error) {
	if r.Method != http.MethodPost {
		return Push{}, fmt.Errorf("%w: %s", ErrMethod, r.Method)
	}
	if len(secret) == 0 {
		return Push{}, fmt.Errorf("%w: no webhook secret configured", ErrUnauthorized)
	}
	switch provider {
	case GitHub, GitLab, Gitea, Generic:
	default:
		return Push{}, fmt.Errorf("%w: unknown webhook provider %q", ErrConfig, provider)
	}
	if maxBody <= 0 {
		maxBody = MaxWebhookBody(provider)
	}
	form := isForm(r.Header.Get("Content-Type"))
	var (
		body    []byte // the body, or its start when partial
		partial bool
		payload []byte // the JSON
		event   string
		err     error
	)
	switch provider {
	case GitHub:
		// GitHub signs the body as sent, form or JSON: stream it
		// through the MAC and keep only its start.
		mac := hmac.New(sha256.New, secret)
		if body, partial, err = readBody(r, maxBody, DefaultMaxWebhookBody, mac); err != nil {
			return Push{}, err
		}
		if err := checkMAC(mac.Sum(nil), r.Header.Get(HeaderGitHubSignature), "sha256=", HeaderGitHubSignature); err != nil {
			return Push{}, err
		}
		event = r.Header.Get(HeaderGitHubEvent)
	case Gitea:
		// Gitea signs the JSON payload, which a form carries in its
		// field "payload".
		if body, _, err = readBody(r, maxBody, maxBody, nil); err != nil {
			return Push{}, err
		}
		if payload, err = formPayload(body, form, false); err != nil {
			return Push{}, fmt.Errorf("%w: %w", ErrUnauthorized, err)
		}
		if err := checkHMAC(secret, payload, r.Header.Get(HeaderGiteaSignature), "", HeaderGiteaSignature); err != nil {
			return Push{}, err
		}
		event = r.Header.Get(HeaderGiteaEvent)
	case GitLab:
		if body, _, err = readBody(r, maxBody, maxBody, nil); err != nil {
			return Push{}, err
		}
		if err := checkToken(secret, r.Header.Get(HeaderGitLabToken)); err != nil {
			return Push{}, err
		}
		event = r.Header.Get(HeaderGitLabEvent)
	case Generic:
		if body, _, err = readBody(r, maxBody, maxBody, nil); err != nil {
			return Push{}, err
		}
		if err := checkHMAC(secret, body, r.Header.Get(HeaderStoreopsSignature), "sha256=", HeaderStoreopsSignature); err != nil {
			return Push{}, err
		}
		event = "push"
	}
	if err := checkEvent(provider, event); err != nil {
		return Push{}, err
	}
	if payload == nil {
		if payload, err = formPayload(body, form, partial); err != nil {
			return Push{}, err
		}
	}
	push, err := decodePush(provider, payload, partial)
	if err != nil {
		return Push{}, err
	}
	push.Delivery = DeliveryID(provider, r.Header)
	return push, nil
}

// isForm reports whether contentType is a URL-encoded form.
func isForm(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// formPayload returns the JSON of a body: the body itself, or the field
// "payload" of a form. With partial, body is only the start of a form
// body: the start of its payload is returned, as far as it can be
// decoded.
func formPayload(body []byte, form, partial bool) ([]byte, error) {
	if !form {
		return body, nil
	}
	if partial {
		rest, ok := bytes.CutPrefix(body, []byte("payload="))
		if !ok {
			return nil, fmt.Errorf("%w: a large form body must start with the field payload", ErrBadRequest)
		}
		if i := bytes.IndexByte(rest, '&'); i >= 0 {
			rest = rest[:i]
		}
		// Drop an escape cut in the middle.
		if i := bytes.LastIndexByte(rest, '%'); i >= 0 && len(rest)-i < 3 {
			rest = rest[:i]
		}
		s, err := url.QueryUnescape(string(rest))
		if err != nil {
			return nil, fmt.Errorf("%w: form field payload: %w", ErrBadRequest, err)
		}
		return []byte(s), nil
	}
	values, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("%w: form body: %w", ErrBadRequest, err)
	}
	p, ok := values["payload"]
	if !ok || len(p) != 1 {
		return nil, fmt.Errorf("%w: a form body needs exactly one field payload", ErrBadRequest)
	}
	return []byte(p[0]), nil
}

// readBody reads r's body, at most limit bytes, writes all of it to tee
// when not nil, and returns its first keep bytes; partial reports that
// the body was longer than keep.
func readBody(r *http.Request, limit, keep int64, tee io.Writer) (head []byte, partial bool, err error) {
	if r.ContentLength > limit {
		return nil, false, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, r.ContentLength, limit)
	}
	if r.Body == nil {
		return nil, false, nil
	}
	keep = min(keep, limit)
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(min(r.ContentLength, keep)))
	}
	w := io.Writer(&headWriter{buf: &buf, keep: keep})
	if tee != nil {
		w = io.MultiWriter(w, tee)
	}
	n, err := io.Copy(w, io.LimitReader(r.Body, limit+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, false, fmt.Errorf("%w: limit %d", ErrTooLarge, mbe.Limit)
		}
		return nil, false, fmt.Errorf("%w: read body: %w", ErrBadRequest, err)
	}
	if n > limit {
		return nil, false, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	return buf.Bytes(), n > keep, nil
}

// headWriter keeps the first keep bytes written to it and drops the
// rest.
type headWriter struct {
	buf  *bytes.Buffer
	keep int64
}

func (h *headWriter) Write(p []byte) (int, error) {
	if room := h.keep - int64(h.buf.Len()); room > 0 {
		h.buf.Write(p[:min(int64(len(p)), room)])
	}
	return len(p), nil
}

// checkHMAC checks header == prefix + hex(HMAC-SHA256(secret, body)).
func checkHMAC(secret, body []byte, header, prefix, name string) error {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return checkMAC(mac.Sum(nil), header, prefix, name)
}

// checkMAC checks header == prefix + hex(sum).
func checkMAC(sum []byte, header, prefix, name string) error {
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
	if !hmac.Equal(got, sum) {
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
	case pullRequestEvent(provider, event):
		return fmt.Errorf("%w: %w: %s event %q", ErrIgnoredEvent, ErrPullRequestEvent, provider, event)
	case !strings.EqualFold(event, want):
		return fmt.Errorf("%w: %s event %q", ErrIgnoredEvent, provider, event)
	}
	return nil
}

func decodePush(provider Provider, payload []byte, partial bool) (Push, error) {
	var p struct {
		Ref   string `json:"ref"`
		After string `json:"after"`
	}
	if partial {
		var err error
		if p.Ref, p.After, err = scanRefAfter(payload); err != nil {
			return Push{}, err
		}
	} else if err := json.Unmarshal(payload, &p); err != nil {
		return Push{}, fmt.Errorf("%w: JSON body: %w", ErrBadRequest, err)
	}
	if p.Ref == "" {
		return Push{}, fmt.Errorf("%w: no ref in body", ErrBadRequest)
	}
	branch, ok := strings.CutPrefix(p.Ref, "refs/heads/")
	if !ok {
		return Push{}, fmt.Errorf("%w: push to %q is not a branch push", ErrIgnoredEvent, p.Ref)
	}
	if checkBranch(branch) != nil {
		return Push{}, fmt.Errorf("%w: invalid branch in ref %q", ErrBadRequest, p.Ref)
	}
	if !isCommitID(p.After) {
		return Push{}, fmt.Errorf("%w: \"after\" is not a commit id: %q", ErrBadRequest, p.After)
	}
	return Push{Provider: provider, Branch: branch, Revision: strings.ToLower(p.After)}, nil
}

// scanRefAfter reads the top-level fields "ref" and "after" from head,
// the start of a JSON object too large to keep whole. GitHub puts them
// first in its push payloads.
func scanRefAfter(head []byte) (ref, after string, err error) {
	dec := json.NewDecoder(bytes.NewReader(head))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", "", fmt.Errorf("%w: JSON body: not an object", ErrBadRequest)
	}
	var seenRef, seenAfter bool
	for !seenRef || !seenAfter {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		key, ok := tok.(string)
		if !ok {
			break
		}
		switch key {
		case "ref":
			err, seenRef = dec.Decode(&ref), true
		case "after":
			err, seenAfter = dec.Decode(&after), true
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			break
		}
	}
	if !seenRef || !seenAfter {
		return "", "", fmt.Errorf("%w: \"ref\" and \"after\" not found in the first %d bytes of the payload", ErrBadRequest, len(head))
	}
	return ref, after, nil
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

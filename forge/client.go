package forge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Bounds of the bodies read from the forge.
const (
	maxBody      = 8 << 20  // a successful answer
	maxErrorBody = 64 << 10 // an error answer
	maxMessage   = 300      // characters of the forge's message kept in an error
)

// client sends the JSON requests of one forge.
type client struct {
	kind    string
	base    *url.URL // API root, e.g. https://gitea.example/api/v1
	repo    string
	token   string
	timeout time.Duration
	http    *http.Client
	auth    func(http.Header)
}

// endpoint returns the URL of the API path made of segments, each
// escaped on its own (so "group/project" becomes "group%2Fproject").
func (c *client) endpoint(query url.Values, segments ...string) *url.URL {
	u := *c.base
	var raw, plain strings.Builder
	raw.WriteString(c.base.EscapedPath())
	plain.WriteString(c.base.Path)
	for _, s := range segments {
		raw.WriteString("/" + url.PathEscape(s))
		plain.WriteString("/" + s)
	}
	u.Path, u.RawPath = plain.String(), raw.String()
	if query != nil {
		u.RawQuery = query.Encode()
	}
	return &u
}

// do sends in (when not nil) as JSON and decodes the answer into out
// (when not nil). A status outside 2xx is an *APIError.
func (c *client) do(ctx context.Context, method string, u *url.URL, in, out any) error {
	_, err := c.doHeader(ctx, method, u, in, out)
	return err
}

// doHeader is do that also returns the headers of a 2xx answer.
func (c *client) doHeader(ctx context.Context, method string, u *url.URL, in, out any) (http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("%s %s %s: %w", c.kind, method, u.Path, err)
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("%s %s %s: %w", c.kind, method, u.Path, err)
	}
	c.auth(req.Header)
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "storeops")
	resp, err := c.http.Do(req)
	if err != nil {
		// *url.Error holds the URL, which holds no secret: the token
		// travels in a header.
		return nil, fmt.Errorf("%s %s %s: %w", c.kind, method, u.Path, c.redact(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		e := &APIError{Kind: c.kind, Method: method, Path: u.Path, Status: resp.StatusCode, Message: c.message(data)}
		e.rateLimit(resp.Header, time.Now())
		return nil, e
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		return resp.Header, nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s %s: read answer: %w", c.kind, method, u.Path, err)
	}
	if len(data) > maxBody {
		return nil, fmt.Errorf("%s %s %s: answer larger than %d bytes", c.kind, method, u.Path, maxBody)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return nil, fmt.Errorf("%s %s %s: decode answer: %w", c.kind, method, u.Path, err)
	}
	return resp.Header, nil
}

// message extracts the forge's explanation from an error body: GitHub
// and Gitea send {"message": "...", "errors": [...]}, GitLab
// {"message": "..." or [...] or {...}} or {"error": "..."}.
func (c *client) message(data []byte) string {
	var e struct {
		Message json.RawMessage `json:"message"`
		Error   string          `json:"error"`
		Errors  []struct {
			Message string `json:"message"`
			Code    string `json:"code"`
		} `json:"errors"`
	}
	var parts []string
	if json.Unmarshal(data, &e) == nil {
		var s string
		var list []string
		var obj map[string]any
		switch {
		case json.Unmarshal(e.Message, &s) == nil:
			parts = append(parts, s)
		case json.Unmarshal(e.Message, &list) == nil:
			parts = append(parts, list...)
		case json.Unmarshal(e.Message, &obj) == nil:
			b, _ := json.Marshal(obj)
			parts = append(parts, string(b))
		}
		if e.Error != "" {
			parts = append(parts, e.Error)
		}
		for _, x := range e.Errors {
			if x.Message != "" {
				parts = append(parts, x.Message)
			} else if x.Code != "" {
				parts = append(parts, x.Code)
			}
		}
	} else if utf8.Valid(data) {
		parts = append(parts, strings.Join(strings.Fields(string(data)), " "))
	}
	msg := strings.Join(parts, "; ")
	msg = strings.ReplaceAll(msg, c.token, "[token]")
	if utf8.RuneCountInString(msg) > maxMessage {
		msg = string([]rune(msg)[:maxMessage]) + "…"
	}
	return msg
}

// redact removes the token from an error's text, should a transport
// ever quote a header.
func (c *client) redact(err error) error {
	if !strings.Contains(err.Error(), c.token) {
		return err
	}
	return redacted{msg: strings.ReplaceAll(err.Error(), c.token, "[token]"), err: err}
}

type redacted struct {
	msg string
	err error
}

func (r redacted) Error() string { return r.msg }
func (r redacted) Unwrap() error { return r.err }

package web

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/storeops/storeops/gitsource"
)

// HookResult is the answer to an accepted or ignored webhook (202).
type HookResult struct {
	// Status is "accepted" (a sync was requested), "ignored" (a ping, a
	// tag, another branch, the tracked branch deleted) or "replayed" (a
	// delivery received before; nothing triggered).
	Status string `json:"status"`
	// Reason says why a webhook was ignored.
	Reason string `json:"reason,omitempty"`
	// Revision is the pushed commit of an accepted webhook.
	Revision string `json:"revision,omitempty"`
	// Delivery is the forge's delivery ID of a replayed webhook.
	Delivery string `json:"delivery,omitempty"`
}

// hook receives POST /hooks/{provider}: it authenticates the push with
// gitsource.ParsePush and, for the tracked branch, calls Trigger and
// answers 202 at once. It never fetches or reconciles itself. A push
// that deleted the tracked branch and a delivery whose ID was seen
// before (a retry, a redelivery, a replay) are acknowledged with 202 and
// trigger nothing. Unconfigured providers answer 404.
func (s *Server) hook(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "provider")
	provider := gitsource.Provider(name)
	secret, ok := s.hooks[provider]
	if !ok {
		s.cfg.Metrics.ObserveWebhook("unknown", "not_found")
		Error(w, r, fmt.Errorf("%w: no webhook receiver %q", ErrNotFound, name))
		return
	}
	log := logger(r.Context()).With("provider", string(provider))
	limit := s.cfg.MaxBodyBytes
	if limit <= 0 {
		limit = gitsource.MaxWebhookBody(provider)
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	push, err := gitsource.ParsePush(provider, secret, r, limit)
	switch {
	case errors.Is(err, gitsource.ErrPullRequestEvent) && s.cfg.PullRequest != nil:
		s.cfg.Metrics.ObserveWebhook(string(provider), "accepted")
		log.Info("webhook accepted: pull request previews requested")
		s.cfg.PullRequest()
		writeJSON(w, http.StatusAccepted, HookResult{Status: "accepted", Reason: "pull request event: plan previews refreshed; no sync"})
		return
	case errors.Is(err, gitsource.ErrIgnoredEvent):
		s.cfg.Metrics.ObserveWebhook(string(provider), "ignored")
		log.Debug("webhook ignored", "reason", err.Error())
		writeJSON(w, http.StatusAccepted, HookResult{Status: "ignored", Reason: err.Error()})
		return
	case err != nil:
		result := hookResult(err)
		s.cfg.Metrics.ObserveWebhook(string(provider), result)
		log.Debug("webhook rejected", "result", result, "error", err.Error())
		if errors.Is(err, gitsource.ErrMethod) {
			w.Header().Set("Allow", http.MethodPost)
		}
		Error(w, r, err)
		return
	case s.seen.Seen(provider, push.Delivery):
		s.cfg.Metrics.ObserveWebhook(string(provider), "replayed")
		log.Info("webhook delivery received before: nothing triggered", "delivery", push.Delivery)
		writeJSON(w, http.StatusAccepted, HookResult{Status: "replayed",
			Reason: "delivery " + push.Delivery + " was received before; nothing triggered", Delivery: push.Delivery})
		return
	case !push.Tracks(s.cfg.Branch):
		s.cfg.Metrics.ObserveWebhook(string(provider), "ignored")
		reason := fmt.Sprintf("push to branch %q; tracking %q", push.Branch, s.cfg.Branch)
		log.Debug("webhook ignored", "reason", reason)
		writeJSON(w, http.StatusAccepted, HookResult{Status: "ignored", Reason: reason})
		return
	case push.Deleted():
		s.cfg.Metrics.ObserveWebhook(string(provider), "ignored")
		reason := fmt.Sprintf("the tracked branch %q was deleted; nothing to sync, the applied revision stays", push.Branch)
		log.Warn("webhook ignored", "reason", reason)
		writeJSON(w, http.StatusAccepted, HookResult{Status: "ignored", Reason: reason})
		return
	}
	s.cfg.Metrics.ObserveWebhook(string(provider), "accepted")
	log.LogAttrs(r.Context(), slog.LevelInfo, "webhook accepted: sync requested",
		slog.String("branch", push.Branch), slog.String("revision", push.Revision))
	s.cfg.Trigger(fmt.Sprintf("webhook %s %s", provider, push.Revision))
	writeJSON(w, http.StatusAccepted, HookResult{Status: "accepted", Revision: push.Revision})
}

// hookResult is the metrics label of a rejected webhook.
func hookResult(err error) string {
	switch HTTPStatus(err) {
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	}
	return "error"
}

package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5/middleware"

	"github.com/storeops/storeops/gitsource"
)

// Errors of this package, wrapped with context; Error maps them (and the
// webhook errors of gitsource) to HTTP statuses.
var (
	// ErrNotFound means the request names something that does not exist
	// (404).
	ErrNotFound = errors.New("not found")
	// ErrInvalid means a parameter of the request is invalid (400).
	ErrInvalid = errors.New("invalid request")
	// ErrUnavailable means a feature is not configured or the server is
	// not ready yet (503).
	ErrUnavailable = errors.New("unavailable")
	// ErrCluster means the cluster could not be read (502).
	ErrCluster = errors.New("cluster read failed")
	// ErrNamespace means a ClusterReader was asked for a namespace that is
	// not a store namespace ("store-<name>").
	ErrNamespace = errors.New("not a store namespace")
)

// errorBody is the JSON body of every error response.
type errorBody struct {
	Error string `json:"error"`
}

// HTTPStatus returns the HTTP status for err.
func HTTPStatus(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrInvalid), errors.Is(err, gitsource.ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, gitsource.ErrMethod):
		return http.StatusMethodNotAllowed
	case errors.Is(err, gitsource.ErrUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, gitsource.ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, ErrCluster):
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}

// Error writes err as a JSON error response with the status HTTPStatus gives.
// Client errors (4xx) and ErrUnavailable are answered with their message
// and not logged; any other error is logged with the request ID and
// answered with a generic message, so that internal details never reach
// the client.
func Error(w http.ResponseWriter, r *http.Request, err error) {
	status := HTTPStatus(err)
	msg := err.Error()
	if status >= 500 && !errors.Is(err, ErrUnavailable) {
		logger(r.Context()).LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", status), slog.String("error", msg))
		msg = fmt.Sprintf("%s (request %s)", http.StatusText(status), middleware.GetReqID(r.Context()))
	}
	writeJSON(w, status, errorBody{Error: msg})
}

type loggerKey struct{}

// logger returns the logger the server stored in ctx, or a discarding one.
func logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.New(slog.DiscardHandler)
}

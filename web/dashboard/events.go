package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/storeops/storeops/reconcile"
)

// heartbeat is how often an idle /events stream sends a comment, so that
// proxies keep it open and a dead client is noticed.
const heartbeat = 25 * time.Second

// update is one Server-Sent Event of /events: HTML fragments rendered
// (and escaped) by the same templates as the page, which the script puts
// in place of the old ones.
type update struct {
	Rows   string `json:"rows"`   // the <tr>s of the store table
	Count  string `json:"count"`  // "3 of 5 stores"
	Banner string `json:"banner"` // the refused-sync banner, "" when none
	Status string `json:"status"` // the revision and sync state in the header
}

// events streams an update after each snapshot the Board publishes (and
// one at once), for the filter in the query, as "event: stores".
func (d *dashboard) events(w http.ResponseWriter, r *http.Request) {
	f, bad := parseFilter(r.URL.Query())
	if bad != "" {
		d.fail(w, r, http.StatusBadRequest, bad)
		return
	}
	select {
	case d.streams <- struct{}{}:
		defer func() { <-d.streams }()
	default:
		w.Header().Set("Retry-After", "30")
		d.fail(w, r, http.StatusServiceUnavailable, "Too many live views are open.")
		return
	}
	wake, unsubscribe := d.cfg.Board.Subscribe()
	defer unsubscribe()

	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, "retry: 3000\n\n"); err != nil {
		return
	}
	last := ""
	send := func() error {
		msg, err := d.update(f, d.cfg.Board.Current())
		if err != nil {
			return err
		}
		if msg == last {
			return nil
		}
		last = msg
		if _, err := fmt.Fprintf(w, "event: stores\ndata: %s\n\n", msg); err != nil {
			return err
		}
		return rc.Flush()
	}
	if err := send(); err != nil {
		return
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		var err error
		select {
		case <-r.Context().Done():
			return
		case <-wake:
			err = send()
		case <-tick.C:
			if _, err = fmt.Fprint(w, ": ping\n\n"); err == nil {
				err = rc.Flush()
			}
		}
		if err != nil {
			d.log.DebugContext(r.Context(), "dashboard: live update stream ends", "error", err)
			return
		}
	}
}

// update renders the live parts of the store list for f as one line of
// JSON.
func (d *dashboard) update(f filter, snap *reconcile.Snapshot) (string, error) {
	page := f.page(snap)
	t := d.pages["partials"]
	var rows, count, banner, status bytes.Buffer
	for _, part := range []struct {
		name string
		buf  *bytes.Buffer
		data any
	}{{"rows", &rows, page}, {"count", &count, page}, {"banner", &banner, snap}, {"status", &status, snap}} {
		if err := t.ExecuteTemplate(part.buf, part.name, part.data); err != nil {
			return "", fmt.Errorf("render %s: %w", part.name, err)
		}
	}
	b, err := json.Marshal(update{Rows: rows.String(), Count: count.String(), Banner: banner.String(), Status: status.String()})
	return string(b), err
}

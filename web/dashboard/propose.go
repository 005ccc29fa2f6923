package dashboard

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/storeops/storeops/proposals"
	"github.com/storeops/storeops/render"
)

// createPage is the data of new.html.
type createPage struct {
	Form  render.NewStore
	Types []render.Type
	Plans []render.Plan
	// Errors are per field ("name", "type", "plan", "domain",
	// "adminEmail"); FileErrors are the problems of the whole file the
	// change would make; Error is anything else.
	Errors     render.FieldErrors
	FileErrors []string
	Error      string
}

// proposedPage is the data of proposed.html.
type proposedPage struct {
	Proposal proposals.Proposal
}

func (d *dashboard) createForm(w http.ResponseWriter, r *http.Request) {
	if identityOf(r.Context()).User == "" {
		d.needLogin(w, r)
		return
	}
	d.renderCreate(w, r, http.StatusOK, createPage{Form: render.NewStore{Type: string(render.Types[0])}})
}

func (d *dashboard) renderCreate(w http.ResponseWriter, r *http.Request, status int, page createPage) {
	page.Types, page.Plans = render.Types, render.Plans
	d.render(w, r, status, "new.html", &view{Title: "Create a store", Nav: "new", Data: page})
}

func (d *dashboard) create(w http.ResponseWriter, r *http.Request) {
	user := identityOf(r.Context()).User
	if user == "" {
		d.needLogin(w, r)
		return
	}
	f := r.PostForm
	s := render.NewStore{
		Name:       strings.TrimSpace(f.Get("name")),
		Type:       strings.TrimSpace(f.Get("type")),
		Plan:       strings.TrimSpace(f.Get("plan")),
		Domain:     strings.TrimSpace(f.Get("domain")),
		AdminEmail: strings.TrimSpace(f.Get("adminEmail")),
	}
	page := createPage{Form: s}
	if fe := s.Check(); fe != nil {
		page.Errors = fe
		d.renderCreate(w, r, http.StatusUnprocessableEntity, page)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), proposeTimeout)
	defer cancel()
	p, err := d.cfg.Proposer.ProposeCreate(ctx, s, user)
	d.proposals.forget() // the proposals page shows it at once
	if err != nil {
		var fe render.FieldErrors
		switch {
		case errors.As(err, &fe):
			page.Errors = fe
		case render.Errors(err) != nil:
			for _, e := range render.Errors(err) {
				page.FileErrors = append(page.FileErrors, e.Error())
			}
		default:
			d.log.ErrorContext(ctx, "dashboard: propose create", "store", s.Name, "user", user, "error", err)
			page.Error = "The pull request could not be opened; the log has the details. Try again later."
			d.renderCreate(w, r, http.StatusBadGateway, page)
			return
		}
		d.renderCreate(w, r, http.StatusUnprocessableEntity, page)
		return
	}
	d.log.InfoContext(ctx, "dashboard: proposed a store", "store", s.Name, "user", user, "url", p.URL, "existing", p.Existing)
	d.render(w, r, http.StatusOK, "proposed.html", &view{Title: "Pull request", Nav: "new", Data: proposedPage{Proposal: p}})
}

// remove proposes to delete the store of the path once the user has typed
// its name.
func (d *dashboard) remove(w http.ResponseWriter, r *http.Request) {
	user := identityOf(r.Context()).User
	if user == "" {
		d.needLogin(w, r)
		return
	}
	snap := d.cfg.Board.Current()
	st, ok := d.storeOf(w, r, snap)
	if !ok {
		return
	}
	confirm := strings.TrimSpace(r.PostForm.Get("confirm"))
	if confirm != st.Name {
		d.renderStore(w, r, http.StatusUnprocessableEntity, snap, st, storePage{Confirm: confirm,
			DeleteError: "The name you typed does not match; nothing was proposed."})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), proposeTimeout)
	defer cancel()
	p, err := d.cfg.Proposer.ProposeDelete(ctx, st.Name, user)
	d.proposals.forget() // the proposals page shows it at once
	switch {
	case errors.Is(err, render.ErrNoSuchStore):
		d.renderStore(w, r, http.StatusUnprocessableEntity, snap, st, storePage{Confirm: confirm,
			DeleteError: "stores.yaml no longer declares this store; there is nothing to remove."})
		return
	case render.Errors(err) != nil:
		d.renderStore(w, r, http.StatusUnprocessableEntity, snap, st, storePage{Confirm: confirm,
			DeleteError: "stores.yaml would not be valid without this store: " + render.Errors(err).Error()})
		return
	case err != nil:
		d.log.ErrorContext(ctx, "dashboard: propose delete", "store", st.Name, "user", user, "error", err)
		d.renderStore(w, r, http.StatusBadGateway, snap, st, storePage{Confirm: confirm,
			DeleteError: "The pull request could not be opened; the log has the details. Try again later."})
		return
	}
	d.log.InfoContext(ctx, "dashboard: proposed a deletion", "store", st.Name, "user", user, "url", p.URL, "existing", p.Existing)
	d.render(w, r, http.StatusOK, "proposed.html", &view{Title: "Pull request", Nav: "stores", Data: proposedPage{Proposal: p}})
}

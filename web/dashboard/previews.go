package dashboard

import "github.com/storeops/storeops/internal/preview"

// SetPreviews makes the proposals page show, next to each open pull
// request, the plan preview storeops commented on it (see
// internal/preview). Call it before serving; f is called per page view.
func (d *Dashboard) SetPreviews(f func() []preview.Preview) {
	d.d.previews.Store(&f)
}

// planPreviews returns the current previews by pull request number.
func (d *dashboard) planPreviews() map[int]*preview.Preview {
	f := d.previews.Load()
	if f == nil {
		return nil
	}
	out := map[int]*preview.Preview{}
	for _, p := range (*f)() {
		out[p.Number] = &p
	}
	return out
}

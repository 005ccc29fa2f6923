package shard

import "time"

// Status is a member's view of its group, for the status API.
type Status struct {
	// ID is this member's id.
	ID string `json:"id"`
	// Shards is the number of shards.
	Shards int `json:"shards"`
	// Members are the live members seen now (member Leases not expired).
	Members []string `json:"members"`
	// View is the membership the assignment follows: Members once they
	// have been stable for StableFor.
	View []string `json:"view"`
	// Held are the shards this member owns now (OwnsShard true).
	Held []int `json:"held"`
	// Assigned is the owner of each shard per the assignment of View ("":
	// no stable view yet).
	Assigned []string `json:"assigned"`
	// Holders is the holder of each shard's Lease as last seen through the
	// watch ("": none, or released).
	Holders []string `json:"holders"`
}

// Status returns the member's view of the group.
func (m *Member) Status() Status {
	now := time.Now()
	st := Status{ID: m.cfg.ID, Shards: m.cfg.Shards, Held: []int{},
		Assigned: make([]string, m.cfg.Shards), Holders: make([]string, m.cfg.Shards)}
	for _, s := range m.shards {
		if s.owns(now) {
			st.Held = append(st.Held, s.k)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	st.Members = append([]string{}, m.liveMembers(now)...)
	st.View = append([]string{}, m.view...)
	copy(st.Assigned, m.target)
	for _, s := range m.shards {
		if o, ok := m.observed[s.name]; ok {
			st.Holders[s.k] = holder(o.lease)
		}
	}
	return st
}

package reconcile

// Signal is a coalescing wake-up: any number of Notify calls between two
// receives on C wake the receiver once. The zero value is not usable; use
// NewSignal.
type Signal struct{ ch chan struct{} }

// NewSignal returns a Signal.
func NewSignal() *Signal { return &Signal{ch: make(chan struct{}, 1)} }

// Notify wakes the receiver; it never blocks.
func (s *Signal) Notify() {
	select {
	case s.ch <- struct{}{}:
	default:
	}
}

// C is the channel to receive wake-ups from.
func (s *Signal) C() <-chan struct{} { return s.ch }

package events

import (
	"sync"
	"time"
)

// Attempt is one delivery attempt, as a Recorder sees it.
type Attempt struct {
	Time    time.Time
	EventID string
	Type    string
	Client  string
	URL     string
	// Outcome is OutcomeDelivered, "failed" (retried) or OutcomeGivenUp.
	Outcome string
	// Status is the HTTP status, 0 when none came back.
	Status int
	// Error is a short description of a failure ("" for none).
	Error string
	// N counts the attempts of this event on this replica, from 1.
	N int
	// Body is the CloudEvent sent.
	Body []byte
}

// Recorder receives every delivery attempt (development mode's outbox page).
type Recorder interface {
	Record(Attempt)
}

// DevLog is a Recorder for development mode: it keeps the newest attempts in memory for the
// dev outbox page. It is safe for concurrent use.
type DevLog struct {
	mu   sync.Mutex
	ring []Attempt
	next int
	full bool
}

// NewDevLog returns a DevLog that keeps the newest n attempts (100 when n <= 0).
func NewDevLog(n int) *DevLog {
	if n <= 0 {
		n = 100
	}
	return &DevLog{ring: make([]Attempt, n)}
}

// Record keeps a.
func (l *DevLog) Record(a Attempt) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ring[l.next] = a
	l.next = (l.next + 1) % len(l.ring)
	if l.next == 0 {
		l.full = true
	}
}

// List returns the attempts kept, newest first.
func (l *DevLog) List() []Attempt {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.next
	if l.full {
		n = len(l.ring)
	}
	out := make([]Attempt, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, l.ring[(l.next-i+len(l.ring))%len(l.ring)])
	}
	return out
}

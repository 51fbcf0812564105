package delivery

import (
	"context"
	"sync"
	"time"
)

// DefaultOutboxCapacity is the capacity NewOutbox uses when given zero or less.
const DefaultOutboxCapacity = 100

// OutboxEntry is one message recorded by an Outbox.
type OutboxEntry struct {
	ID      string
	Channel Channel
	To      string
	Locale  string
	Subject string
	Text    string
	Sent    time.Time
}

// Outbox is a sender for development mode only: it delivers nothing and
// keeps the last rendered messages, codes and links included, in memory
// for a dev page to show. Never use it in production. It is safe for
// concurrent use.
type Outbox struct {
	mu      sync.Mutex
	entries []OutboxEntry // ring buffer
	next    int           // index of the next write
	full    bool
}

// NewOutbox returns an Outbox keeping the newest capacity messages.
func NewOutbox(capacity int) *Outbox {
	if capacity <= 0 {
		capacity = DefaultOutboxCapacity
	}
	return &Outbox{entries: make([]OutboxEntry, capacity)}
}

// Send renders m and records it; it serves both channels. An invalid m gives
// a *MessageError; a done ctx gives its error.
func (o *Outbox) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r, err := Render(m)
	if err != nil {
		return err
	}
	e := OutboxEntry{
		ID:      m.ID,
		Channel: m.Channel,
		To:      m.To,
		Locale:  MatchLocale(m.Locale),
		Subject: r.Subject,
		Text:    r.Text,
		Sent:    time.Now(),
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.entries[o.next] = e
	o.next = (o.next + 1) % len(o.entries)
	if o.next == 0 {
		o.full = true
	}
	return nil
}

// List returns the recorded messages, newest first.
func (o *Outbox) List() []OutboxEntry {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := o.next
	if o.full {
		n = len(o.entries)
	}
	out := make([]OutboxEntry, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, o.entries[(o.next-i+len(o.entries))%len(o.entries)])
	}
	return out
}

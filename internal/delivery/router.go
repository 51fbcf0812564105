package delivery

import "context"

// sender is what the Router routes to: SMTP, Webhook, Outbox or any other
// implementation of the same contract.
type sender interface {
	// Send delivers m or returns an error that never carries m's address,
	// code or link.
	Send(ctx context.Context, m Message) error
}

// Compile-time checks that the senders serve the contract.
var (
	_ sender = (*SMTP)(nil)
	_ sender = (*Webhook)(nil)
	_ sender = (*Outbox)(nil)
	_ sender = (*Router)(nil)
)

// Router sends each message with the sender of its channel.
type Router struct {
	email, sms sender
}

// NewRouter returns a Router; a nil email or sms leaves that channel
// unserved. Pass an untyped nil, not a nil pointer of a sender type.
func NewRouter(email, sms sender) *Router {
	return &Router{email: email, sms: sms}
}

// Send routes m by its Channel. A channel without a sender gives a
// *ChannelError wrapping ErrNoSender; an unknown channel one wrapping
// ErrChannel.
func (r *Router) Send(ctx context.Context, m Message) error {
	var s sender
	switch m.Channel {
	case Email:
		s = r.email
	case SMS:
		s = r.sms
	default:
		return &ChannelError{Channel: m.Channel, Err: ErrChannel}
	}
	if s == nil {
		return &ChannelError{Channel: m.Channel, Err: ErrNoSender}
	}
	return s.Send(ctx, m)
}

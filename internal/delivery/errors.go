package delivery

import (
	"context"
	"errors"
	"strconv"
)

// Sentinel errors. Test with errors.Is; their text is short and stable and
// never carries an address, code, link or response body.
var (
	// ErrSend marks a send that failed; the error is a *SendError.
	ErrSend = errors.New("delivery: send failed")
	// ErrChannel marks a message on a channel the sender does not serve.
	ErrChannel = errors.New("delivery: channel not supported")
	// ErrNoSender marks a channel for which a Router has no sender.
	ErrNoSender = errors.New("delivery: no sender for channel")
	// ErrInvalidMessage marks a Message that fails validation; the error is a
	// *MessageError naming the field.
	ErrInvalidMessage = errors.New("delivery: invalid message")
	// ErrConfig marks an invalid sender configuration.
	ErrConfig = errors.New("delivery: invalid config")
	// ErrSignature marks a webhook signature that is malformed or does not match.
	ErrSignature = errors.New("delivery: bad signature")
	// ErrTemplate marks a message template that failed to render (a defect
	// of the embedded templates, never of the input).
	ErrTemplate = errors.New("delivery: template failed")
	// ErrStaleTimestamp marks a webhook timestamp outside the tolerance.
	ErrStaleTimestamp = errors.New("delivery: stale timestamp")
)

// MessageError reports the first invalid field of a Message. It names the
// field, never its value.
type MessageError struct {
	// Field is the field's snake_case name, e.g. "to", "code", "page_host".
	Field string
}

// Error implements error.
func (e *MessageError) Error() string { return "delivery: invalid message field " + e.Field }

// Is reports whether target is ErrInvalidMessage.
func (e *MessageError) Is(target error) bool { return target == ErrInvalidMessage }

// ChannelError reports a channel that a sender or router cannot serve.
// It unwraps to ErrChannel or ErrNoSender.
type ChannelError struct {
	// Channel is the channel of the message.
	Channel Channel
	// Err is ErrChannel or ErrNoSender.
	Err error
}

// Error implements error.
func (e *ChannelError) Error() string { return e.Err.Error() + ": " + e.Channel.String() }

// Unwrap returns the sentinel.
func (e *ChannelError) Unwrap() error { return e.Err }

// Reason is why a send failed, from a small closed set that is safe to log
// and to use as a metric label.
type Reason int

// The reasons.
const (
	// ReasonNetwork: the server could not be reached or the connection broke.
	ReasonNetwork Reason = iota + 1
	// ReasonTimeout: an attempt or the context deadline ran out.
	ReasonTimeout
	// ReasonCanceled: the caller's context was canceled.
	ReasonCanceled
	// ReasonTLS: TLS could not be established or verified (including a
	// server that does not offer mandatory STARTTLS).
	ReasonTLS
	// ReasonAuth: the SMTP server refused the credentials.
	ReasonAuth
	// ReasonRejected: the server refused the sender, the recipient or the
	// message (an SMTP 4xx/5xx reply, or a webhook 4xx).
	ReasonRejected
	// ReasonServer: the webhook receiver answered 5xx, 429 or an unexpected status.
	ReasonServer
	// ReasonProtocol: any other failure of the SMTP session or the request.
	ReasonProtocol
)

// String returns the reason's stable name.
func (r Reason) String() string {
	switch r {
	case ReasonNetwork:
		return "network"
	case ReasonTimeout:
		return "timeout"
	case ReasonCanceled:
		return "canceled"
	case ReasonTLS:
		return "tls"
	case ReasonAuth:
		return "auth"
	case ReasonRejected:
		return "rejected"
	case ReasonServer:
		return "server"
	case ReasonProtocol:
		return "protocol"
	default:
		return "unknown"
	}
}

// SendError is the error of a failed send. errors.Is(err, ErrSend) holds.
// It deliberately keeps no cause from the mail or HTTP library, whose errors
// may embed recipient addresses or URLs; when the context ended the send it
// unwraps to context.Canceled or context.DeadlineExceeded.
type SendError struct {
	// Channel is the channel of the message.
	Channel Channel
	// Reason classifies the failure.
	Reason Reason
	// Code is the SMTP reply code or HTTP status of the last attempt, or 0.
	Code int
	// Attempts is the number of attempts made (1 for SMTP).
	Attempts int
	// Temporary reports whether the same send may succeed if retried later.
	Temporary bool

	ctxErr error
}

// Error implements error; the text holds only the channel, reason and code.
func (e *SendError) Error() string {
	s := ErrSend.Error() + ": " + e.Channel.String() + ": " + e.Reason.String()
	if e.Code != 0 {
		s += " (" + strconv.Itoa(e.Code) + ")"
	}
	return s
}

// Is reports whether target is ErrSend.
func (e *SendError) Is(target error) bool { return target == ErrSend }

// Unwrap returns the context error that ended the send, if any.
func (e *SendError) Unwrap() error { return e.ctxErr }

// IsTemporary reports whether err is a *SendError marked temporary.
func IsTemporary(err error) bool {
	var se *SendError
	return errors.As(err, &se) && se.Temporary
}

// contextSendError returns the SendError for a context that ended.
func contextSendError(ch Channel, attempts int, err error) *SendError {
	if errors.Is(err, context.Canceled) {
		return &SendError{Channel: ch, Reason: ReasonCanceled, Attempts: attempts, ctxErr: context.Canceled}
	}
	return &SendError{Channel: ch, Reason: ReasonTimeout, Attempts: attempts, Temporary: true, ctxErr: context.DeadlineExceeded}
}

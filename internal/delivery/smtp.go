package delivery

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// TLSMode is how the SMTP connection is protected. The zero value,
// TLSStartTLS, is the secure default.
type TLSMode int

// The TLS modes.
const (
	// TLSStartTLS requires STARTTLS (RFC 3207) with a verified certificate;
	// a server that does not offer it is refused. Default port 587.
	TLSStartTLS TLSMode = iota
	// TLSImplicit speaks TLS from the first byte (RFC 8314). Default port 465.
	TLSImplicit
	// TLSNone sends in clear. For development and tests only: NewSMTP
	// accepts it only for a loopback Host. Default port 25.
	TLSNone
)

// DefaultSMTPTimeout bounds each SMTP command when SMTPConfig.Timeout is zero.
const DefaultSMTPTimeout = 15 * time.Second

// SMTPConfig configures an SMTP sender.
type SMTPConfig struct {
	// Host is the submission server's host name (also the TLS server name).
	Host string
	// Port is the server's port; 0 picks the mode's default.
	Port int
	// Username and Password authenticate with SMTP AUTH when Username is set
	// (SCRAM-SHA-256, PLAIN or LOGIN, whichever the server offers first in
	// that order; PLAIN and LOGIN only over TLS).
	Username string
	Password string
	// From is the sender, e.g. "Acme <no-reply@acme.example>".
	From string
	// TLS selects the protection; the zero value is mandatory STARTTLS.
	TLS TLSMode
	// RootCAs verifies the server certificate; nil uses the system roots.
	RootCAs *x509.CertPool
	// Timeout bounds each SMTP command; 0 means DefaultSMTPTimeout.
	Timeout time.Duration
}

// SMTP sends Email messages through an SMTP submission server, dialing once
// per send. It is safe for concurrent use.
type SMTP struct {
	host     string
	port     int
	mode     TLSMode
	from     *mail.Address
	domain   string
	tls      *tls.Config
	timeout  time.Duration
	username string
	password string
}

// NewSMTP validates cfg and returns a sender. Errors wrap ErrConfig and name
// the bad field, never a secret.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if cfg.Host == "" || strings.ContainsAny(cfg.Host, "/:@ ") && net.ParseIP(cfg.Host) == nil {
		return nil, configError("smtp host")
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, configError("smtp port")
	}
	if cfg.Timeout < 0 {
		return nil, configError("smtp timeout")
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, configError("smtp from")
	}
	at := strings.LastIndexByte(from.Address, '@')
	if at < 0 || at == len(from.Address)-1 {
		return nil, configError("smtp from")
	}
	if cfg.Password != "" && cfg.Username == "" {
		return nil, configError("smtp username")
	}
	s := &SMTP{
		host:     cfg.Host,
		port:     cfg.Port,
		mode:     cfg.TLS,
		from:     from,
		domain:   from.Address[at+1:],
		timeout:  cfg.Timeout,
		username: cfg.Username,
		password: cfg.Password,
		tls: &tls.Config{
			ServerName: cfg.Host,
			RootCAs:    cfg.RootCAs,
			MinVersion: tls.VersionTLS12,
		},
	}
	if s.timeout == 0 {
		s.timeout = DefaultSMTPTimeout
	}
	switch cfg.TLS {
	case TLSStartTLS:
		if s.port == 0 {
			s.port = 587
		}
	case TLSImplicit:
		if s.port == 0 {
			s.port = 465
		}
	case TLSNone:
		if !isLoopbackHost(cfg.Host) {
			return nil, configError("smtp tls: none is allowed only for a loopback host")
		}
		if s.port == 0 {
			s.port = 25
		}
	default:
		return nil, configError("smtp tls")
	}
	return s, nil
}

// Send renders m and submits it. It accepts only Email messages (others give
// a *ChannelError wrapping ErrChannel); an invalid m gives a *MessageError;
// a failed submission gives a *SendError. The Message-ID header is derived
// from m.ID, so a retried send carries the same one.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	if s == nil {
		return &ChannelError{Channel: m.Channel, Err: ErrNoSender}
	}
	if m.Channel != Email {
		return &ChannelError{Channel: m.Channel, Err: ErrChannel}
	}
	r, err := Render(m)
	if err != nil {
		return err
	}
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(s.from)
	if err := msg.To(m.To); err != nil {
		return &MessageError{Field: "to"}
	}
	msg.Subject(r.Subject)
	msg.SetMessageIDWithValue(MessageID(m.ID, s.domain))
	msg.SetDate()
	msg.SetGenHeader(gomail.HeaderContentLang, MatchLocale(m.Locale))
	// RFC 3834: an automatic message; ask auto-responders to stay quiet.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "All")
	msg.SetBodyString(gomail.TypeTextPlain, r.Text)

	var conn trackedConn
	client, err := gomail.NewClient(s.host, s.options(&conn)...)
	if err != nil {
		return &SendError{Channel: Email, Reason: ReasonProtocol, Attempts: 1}
	}
	// go-mail does not close the connection when the session fails before
	// the message (a refused STARTTLS or AUTH), nor watch ctx once dialed:
	// close it here in both cases. Close after a clean QUIT is a no-op.
	stop := context.AfterFunc(ctx, conn.close)
	err = client.DialAndSendWithContext(ctx, msg)
	stop()
	conn.close()
	if err != nil {
		return classifySMTP(ctx, err)
	}
	return nil
}

// MessageID returns the Message-ID value (without angle brackets) that the
// SMTP sender sets for a message ID and sender domain: a hash of the ID, so
// it is stable across retries and reveals nothing of the ID.
func MessageID(id, domain string) string {
	sum := sha256.Sum256([]byte("authsvc-delivery-message-id\x00" + id))
	return hex.EncodeToString(sum[:16]) + "@" + domain
}

func (s *SMTP) options(conn *trackedConn) []gomail.Option {
	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTimeout(s.timeout),
		gomail.WithTLSConfig(s.tls),
		gomail.WithoutNoop(),
	}
	var dial func(ctx context.Context, network, addr string) (net.Conn, error)
	switch s.mode {
	case TLSImplicit:
		d := &tls.Dialer{Config: s.tls}
		dial = d.DialContext
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		dial = (&net.Dialer{}).DialContext
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		dial = (&net.Dialer{}).DialContext
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	opts = append(opts, gomail.WithDialContextFunc(func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err == nil {
			conn.set(c)
		}
		return c, err
	}))
	if s.username != "" {
		// A fresh client per send: opportunistic selection writes to the client.
		opts = append(opts,
			gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthPlain, gomail.SMTPAuthLogin),
			gomail.WithUsername(s.username),
			gomail.WithPassword(s.password),
		)
	}
	return opts
}

// trackedConn remembers the connection of one send so it can be closed.
type trackedConn struct {
	mu sync.Mutex
	c  net.Conn
}

func (t *trackedConn) set(c net.Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.c = c
}

func (t *trackedConn) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.c != nil {
		_ = t.c.Close()
	}
}

// classifySMTP maps a go-mail error to a *SendError without keeping it: its
// text names the recipients.
func classifySMTP(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return contextSendError(Email, 1, ctx.Err())
	}
	se := &SendError{Channel: Email, Reason: ReasonProtocol, Attempts: 1}
	var (
		mailErr  *gomail.SendError
		protoErr *textproto.Error
		netErr   net.Error
		certErr  *tls.CertificateVerificationError
		alertErr tls.AlertError
		recErr   tls.RecordHeaderError
		unkAuth  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
	)
	if errors.As(err, &protoErr) {
		se.Code = protoErr.Code
	}
	switch {
	case errors.As(err, &mailErr):
		se.Reason = ReasonRejected
		se.Temporary = mailErr.IsTemp()
		if c := mailErr.ErrorCode(); c != 0 {
			se.Code = c
		}
		if mailErr.Reason == gomail.ErrConnCheck || mailErr.Reason == gomail.ErrWriteContent {
			se.Reason = ReasonNetwork
			se.Temporary = true
		}
	case errors.As(err, &certErr), errors.As(err, &alertErr), errors.As(err, &recErr),
		errors.As(err, &unkAuth), errors.As(err, &hostErr):
		se.Reason = ReasonTLS
	case protoErr != nil && (protoErr.Code == 530 || protoErr.Code == 534 || protoErr.Code == 535 || protoErr.Code == 538):
		se.Reason = ReasonAuth
	case protoErr != nil:
		se.Reason = ReasonRejected
		se.Temporary = protoErr.Code >= 400 && protoErr.Code < 500
	case errors.As(err, &netErr) && netErr.Timeout():
		se.Reason = ReasonTimeout
		se.Temporary = true
	case errors.As(err, &netErr), errors.Is(err, net.ErrClosed):
		se.Reason = ReasonNetwork
		se.Temporary = true
	case strings.Contains(err.Error(), "STARTTLS"):
		// go-mail reports a server without mandatory STARTTLS only as text.
		se.Reason = ReasonTLS
	case errors.Is(err, gomail.ErrNoSupportedAuthDiscovered), errors.Is(err, gomail.ErrPlainAuthNotSupported),
		errors.Is(err, gomail.ErrLoginAuthNotSupported), errors.Is(err, gomail.ErrSCRAMSHA256AuthNotSupported),
		strings.Contains(err.Error(), "SMTP AUTH"):
		se.Reason = ReasonAuth
	}
	return se
}

func configError(what string) error {
	return &ConfigError{Field: what}
}

// ConfigError reports an invalid sender configuration; it names the field,
// never its value. errors.Is(err, ErrConfig) holds.
type ConfigError struct {
	// Field names the setting and, where useful, the rule it broke.
	Field string
}

// Error implements error.
func (e *ConfigError) Error() string { return ErrConfig.Error() + ": " + e.Field }

// Is reports whether target is ErrConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrConfig }

package delivery

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

const (
	smtpUser = "authsvc"
	smtpPass = "s3cret-smtp-password"
	smtpFrom = "Acme <no-reply@acme.example>"
)

// selfSigned returns a TLS certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test smtp"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

type serverOpts struct {
	noTLS      bool // offer no STARTTLS (and allow AUTH in clear)
	implicit   bool // TLS from the first byte
	rcptCode   int  // refuse RCPT with this code, e.g. 550
	noAuthNeed bool // accept mail without AUTH
}

type envelope struct {
	from string
	to   []string
	data []byte
}

// testSMTP is a real go-smtp server on 127.0.0.1 with AUTH PLAIN.
type testSMTP struct {
	port int
	pool *x509.CertPool
	opts serverOpts

	mu   sync.Mutex
	msgs []envelope
}

func (ts *testSMTP) received() []envelope {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]envelope(nil), ts.msgs...)
}

func startSMTP(t *testing.T, opts serverOpts) *testSMTP {
	t.Helper()
	cert, pool := selfSigned(t)
	ts := &testSMTP{pool: pool, opts: opts}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{srv: ts}, nil
	}))
	s.Domain = "localhost"
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	s.MaxMessageBytes = 1 << 20
	s.AllowInsecureAuth = opts.noTLS
	tlsConf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if !opts.noTLS && !opts.implicit {
		s.TLSConfig = tlsConf
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.port = l.Addr().(*net.TCPAddr).Port
	if opts.implicit {
		l = tls.NewListener(l, tlsConf)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		_ = s.Close()
		// Close registers listeners that Serve has reached; close ours too
		// in case Serve had not started yet.
		_ = l.Close()
		if err := <-done; err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			t.Logf("smtp server: %v", err)
		}
	})
	return ts
}

type session struct {
	srv  *testSMTP
	auth bool
	env  envelope
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != smtpUser || pass != smtpPass {
			return smtp.ErrAuthFailed
		}
		s.auth = true
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if !s.auth && !s.srv.opts.noAuthNeed {
		return smtp.ErrAuthRequired
	}
	s.env.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if c := s.srv.opts.rcptCode; c != 0 {
		// Like real servers, echo the address in the reply.
		return &smtp.SMTPError{Code: c, EnhancedCode: smtp.EnhancedCode{c / 100, 1, 1}, Message: "no mailbox " + to}
	}
	s.env.to = append(s.env.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.env.data = b
	s.srv.mu.Lock()
	s.srv.msgs = append(s.srv.msgs, s.env)
	s.srv.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.env = envelope{} }
func (s *session) Logout() error { return nil }

func (ts *testSMTP) config(mode TLSMode) SMTPConfig {
	return SMTPConfig{
		Host:     "127.0.0.1",
		Port:     ts.port,
		Username: smtpUser,
		Password: smtpPass,
		From:     smtpFrom,
		TLS:      mode,
		RootCAs:  ts.pool,
		Timeout:  10 * time.Second,
	}
}

func newTestSMTP(t *testing.T, cfg SMTPConfig) *SMTP {
	t.Helper()
	s, err := NewSMTP(cfg)
	if err != nil {
		t.Fatalf("NewSMTP: %v", err)
	}
	return s
}

// parsed is a received message with decoded subject and body.
type parsed struct {
	header  mail.Header
	subject string
	body    string
}

func parseReceived(t *testing.T, data []byte) parsed {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(string(data)))
	if err != nil {
		t.Fatalf("read message: %v", err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("decode subject: %v", err)
	}
	body := io.Reader(msg.Body)
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return parsed{header: msg.Header, subject: subject, body: strings.ReplaceAll(string(b), "\r\n", "\n")}
}

func TestSMTPSendDeliversLocalizedMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mode   TLSMode
		kind   Kind
		locale string
		want   []string
	}{
		{"starttls en code", TLSStartTLS, KindCode, "en-US", []string{testCode, "Enter this code only on \u2068Acme\u2069's own page at " + testPageHost, "never ask you for this code in a chat"}},
		{"starttls es code", TLSStartTLS, KindCode, "es-MX", []string{testCode, "solo en la página de \u2068Acme\u2069 en " + testPageHost, "nunca te pedirá este código en un chat"}},
		{"starttls en link", TLSStartTLS, KindLink, "en", []string{testLink, "pick the number shown", "own page at " + testPageHost}},
		{"starttls es link", TLSStartTLS, KindLink, "es", []string{testLink, "elige el número", "propia página en " + testPageHost}},
		{"implicit en code", TLSImplicit, KindCode, "en", []string{testCode, "own page at " + testPageHost}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startSMTP(t, serverOpts{implicit: tt.mode == TLSImplicit})
			s := newTestSMTP(t, srv.config(tt.mode))
			m := testMessage(Email, tt.kind, tt.locale)
			if err := s.Send(t.Context(), m); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := srv.received()
			if len(got) != 1 {
				t.Fatalf("server received %d messages, want 1", len(got))
			}
			env := got[0]
			if env.from != "no-reply@acme.example" || len(env.to) != 1 || env.to[0] != testEmail {
				t.Errorf("envelope from %q to %q", env.from, env.to)
			}
			p := parseReceived(t, env.data)
			want, _ := Render(m)
			if from, err := mail.ParseAddress(p.header.Get("From")); err != nil || from.Name != "Acme" || from.Address != "no-reply@acme.example" {
				t.Errorf("From = %q", p.header.Get("From"))
			}
			if to, err := mail.ParseAddress(p.header.Get("To")); err != nil || to.Address != testEmail {
				t.Errorf("To = %q", p.header.Get("To"))
			}
			if p.subject != want.Subject {
				t.Errorf("Subject = %q, want %q", p.subject, want.Subject)
			}
			if id := p.header.Get("Message-Id"); id != "<"+MessageID(m.ID, "acme.example")+">" {
				t.Errorf("Message-ID = %q", id)
			}
			if p.header.Get("Auto-Submitted") != "auto-generated" {
				t.Errorf("Auto-Submitted = %q", p.header.Get("Auto-Submitted"))
			}
			for _, w := range append(tt.want, "Acme", "@al…e", " X") {
				if !strings.Contains(p.body, w) {
					t.Errorf("body lacks %q:\n%s", w, p.body)
				}
			}
		})
	}
}

func TestSMTPRetryKeepsMessageID(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, serverOpts{})
	s := newTestSMTP(t, srv.config(TLSStartTLS))
	m := testMessage(Email, KindCode, "en")
	for range 2 {
		if err := s.Send(t.Context(), m); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	m.ID = "msg-other"
	if err := s.Send(t.Context(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := srv.received()
	if len(got) != 3 {
		t.Fatalf("received %d messages, want 3", len(got))
	}
	ids := make([]string, len(got))
	for i, e := range got {
		ids[i] = parseReceived(t, e.data).header.Get("Message-Id")
	}
	if ids[0] != ids[1] || ids[0] == ids[2] {
		t.Errorf("Message-IDs %q: want the first two equal, the third different", ids)
	}
	if strings.Contains(ids[0], "msg-7f3a9c") {
		t.Errorf("Message-ID %q reveals the message ID", ids[0])
	}
}

func TestSMTPFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		opts       serverOpts
		edit       func(*SMTPConfig)
		reason     Reason
		code       int
		temporary  bool
		notSending bool
	}{
		{name: "recipient refused", opts: serverOpts{rcptCode: 550}, reason: ReasonRejected, code: 550},
		{name: "recipient deferred", opts: serverOpts{rcptCode: 450}, reason: ReasonRejected, code: 450, temporary: true},
		{name: "no starttls offered", opts: serverOpts{noTLS: true}, reason: ReasonTLS},
		{name: "untrusted certificate", edit: func(c *SMTPConfig) { c.RootCAs = x509.NewCertPool() }, reason: ReasonTLS},
		{name: "wrong password", edit: func(c *SMTPConfig) { c.Password = "wrong-password" }, reason: ReasonAuth, code: 535},
		{name: "implicit tls to starttls port", edit: func(c *SMTPConfig) { c.TLS = TLSImplicit; c.Timeout = 2 * time.Second }, reason: ReasonTLS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startSMTP(t, tt.opts)
			cfg := srv.config(TLSStartTLS)
			if tt.edit != nil {
				tt.edit(&cfg)
			}
			err := newTestSMTP(t, cfg).Send(t.Context(), testMessage(Email, KindCode, "en"))
			if !errors.Is(err, ErrSend) {
				t.Fatalf("Send error = %v, want ErrSend", err)
			}
			var se *SendError
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not a *SendError", err)
			}
			if se.Reason != tt.reason || se.Temporary != tt.temporary || (tt.code != 0 && se.Code != tt.code) {
				t.Errorf("got reason %v temporary %v code %d, want %v %v %d", se.Reason, se.Temporary, se.Code, tt.reason, tt.temporary, tt.code)
			}
			if IsTemporary(err) != tt.temporary {
				t.Errorf("IsTemporary = %v", IsTemporary(err))
			}
			assertNoSecrets(t, err, smtpPass, "acme.example", "127.0.0.1", strconv.Itoa(srv.port))
			if n := len(srv.received()); n != 0 {
				t.Errorf("server received %d messages, want 0", n)
			}
		})
	}
}

func TestSMTPContextCanceled(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, serverOpts{})
	s := newTestSMTP(t, srv.config(TLSStartTLS))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := s.Send(ctx, testMessage(Email, KindCode, "en"))
	if !errors.Is(err, ErrSend) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Send error = %v, want ErrSend and context.Canceled", err)
	}
}

func TestSMTPPlainForLoopbackDev(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, serverOpts{noTLS: true, noAuthNeed: true})
	cfg := srv.config(TLSNone)
	cfg.Username, cfg.Password = "", ""
	if err := newTestSMTP(t, cfg).Send(t.Context(), testMessage(Email, KindCode, "en")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if n := len(srv.received()); n != 1 {
		t.Fatalf("received %d messages, want 1", n)
	}
}

func TestSMTPRejectsOtherChannels(t *testing.T) {
	t.Parallel()
	s := newTestSMTP(t, SMTPConfig{Host: "smtp.acme.example", From: smtpFrom})
	err := s.Send(t.Context(), testMessage(SMS, KindCode, "en"))
	var ce *ChannelError
	if !errors.Is(err, ErrChannel) || !errors.As(err, &ce) || ce.Channel != SMS {
		t.Fatalf("Send error = %v, want a ChannelError for sms", err)
	}
	if errors.Is(err, ErrSend) {
		t.Error("a channel error must not read as a failed send")
	}
	bad := testMessage(Email, KindCode, "en")
	bad.Code = "1"
	if err := s.Send(t.Context(), bad); !errors.Is(err, ErrInvalidMessage) {
		t.Fatalf("Send error = %v, want ErrInvalidMessage", err)
	}
}

func TestNewSMTPValidatesConfig(t *testing.T) {
	t.Parallel()
	valid := SMTPConfig{Host: "smtp.acme.example", From: smtpFrom, Username: smtpUser, Password: smtpPass}
	tests := []struct {
		name string
		edit func(*SMTPConfig)
		ok   bool
	}{
		{"valid starttls", func(*SMTPConfig) {}, true},
		{"valid implicit", func(c *SMTPConfig) { c.TLS = TLSImplicit }, true},
		{"no host", func(c *SMTPConfig) { c.Host = "" }, false},
		{"host with port", func(c *SMTPConfig) { c.Host = "smtp.acme.example:25" }, false},
		{"bad port", func(c *SMTPConfig) { c.Port = 70000 }, false},
		{"bad from", func(c *SMTPConfig) { c.From = "not an address" }, false},
		{"password without user", func(c *SMTPConfig) { c.Username = "" }, false},
		{"cleartext to remote host", func(c *SMTPConfig) { c.TLS = TLSNone }, false},
		{"cleartext to loopback", func(c *SMTPConfig) { c.TLS, c.Host = TLSNone, "127.0.0.1" }, true},
		{"unknown tls mode", func(c *SMTPConfig) { c.TLS = 9 }, false},
		{"negative timeout", func(c *SMTPConfig) { c.Timeout = -1 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := valid
			tt.edit(&cfg)
			_, err := NewSMTP(cfg)
			if tt.ok {
				if err != nil {
					t.Fatalf("NewSMTP: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("NewSMTP error = %v, want ErrConfig", err)
			}
			assertNoSecrets(t, err, smtpPass)
		})
	}
}

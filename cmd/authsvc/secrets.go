package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/authsvc/authsvc/internal/assertion"
	"github.com/authsvc/authsvc/internal/challenge"
	"github.com/authsvc/authsvc/internal/delivery"
	"github.com/authsvc/authsvc/internal/grpcapi"
	"github.com/authsvc/authsvc/internal/keyedhash"
	"github.com/authsvc/authsvc/internal/seal"
)

// secrets is every key and credential the service holds, read from the files the
// configuration names (or, in dev mode, generated).
type secrets struct {
	hashKeys *keyedhash.Ring
	// seals seal TOTP seeds (the key-encryption keys).
	seals   *seal.Ring
	keyring *assertion.Keyring
	clients *grpcapi.Clients
	redis   redisSecrets
	// serving is the serving certificate and, when clients may present
	// certificates, the client CA bundle; nil when TLS ends at the ingress.
	serving *servingTLS
	// email and sms are the senders built from the delivery settings; in dev
	// mode both are the outbox.
	email, sms challenge.Sender
	outbox     *delivery.Outbox
}

// loadSecrets reads every secret file and builds the senders, reporting every
// problem at once. Errors name the variable and the path, never file contents.
// log (nil: discard) receives the signing keyring's changes of state; client
// (nil: a default client) sends the webhooks.
func loadSecrets(cfg *Config, log *slog.Logger, client *http.Client) (*secrets, error) {
	if cfg.Dev.Enabled {
		return devSecrets(cfg)
	}
	var s secrets
	var errs []error
	fail := func(err error) { errs = append(errs, err) }

	var err error
	if s.hashKeys, err = keyedhash.LoadFile(cfg.Keys.HMACKeysFile); err != nil {
		fail(fmt.Errorf("AUTHSVC_HMAC_KEYS_FILE: %w", err))
	}
	if s.seals, err = seal.LoadFile(cfg.Keys.KEKFile); err != nil {
		fail(fmt.Errorf("AUTHSVC_KEK_FILE: %w", err))
	}
	if s.keyring, err = assertion.OpenKeyring(cfg.Keys.SigningKeysDir, keyringOptions(cfg, log)); err != nil {
		fail(fmt.Errorf("AUTHSVC_SIGNING_KEYS_DIR / AUTHSVC_SIGNING_KEY_ACTIVE: %w", err))
	}
	if s.clients, err = grpcapi.LoadClients(cfg.ClientsFile); err != nil {
		fail(fmt.Errorf("AUTHSVC_CLIENTS_FILE: %w", err))
	} else if err := unusableClients(cfg, s.clients); err != nil {
		fail(err)
	}
	if p := cfg.Redis.PasswordFile; p != "" {
		if s.redis.password, err = readSecretFile("AUTHSVC_REDIS_PASSWORD_FILE", p); err != nil {
			fail(err)
		}
	}
	if p := cfg.Redis.SentinelPasswordFile; p != "" {
		if s.redis.sentinelPassword, err = readSecretFile("AUTHSVC_REDIS_SENTINEL_PASSWORD_FILE", p); err != nil {
			fail(err)
		}
	}
	if p := cfg.Redis.CAFile; p != "" {
		if s.redis.rootCAs, err = readCAFile("AUTHSVC_REDIS_CA_FILE", p); err != nil {
			fail(err)
		}
	}
	if cfg.Listen.TLSCertFile != "" {
		if s.serving, err = loadServingTLS(cfg.Listen.TLSCertFile, cfg.Listen.TLSKeyFile, cfg.Listen.ClientCAFile,
			cfg.Listen.ClientAuth); err != nil {
			fail(err)
		}
	}

	// Senders: SMS always through its webhook; email through SMTP or a webhook.
	if smsSecret, err := readSecretFile("AUTHSVC_SMS_WEBHOOK_SECRET_FILE", cfg.Webhook.SMSSecretFile); err != nil {
		fail(err)
	} else if s.sms, err = delivery.NewWebhook(delivery.WebhookConfig{URL: cfg.Webhook.SMSURL, Secret: []byte(smsSecret),
		Client: client}); err != nil {
		fail(fmt.Errorf("AUTHSVC_SMS_WEBHOOK_URL / AUTHSVC_SMS_WEBHOOK_SECRET_FILE: %w", err))
	}
	if cfg.Webhook.EmailURL != "" {
		if secret, err := readSecretFile("AUTHSVC_EMAIL_WEBHOOK_SECRET_FILE", cfg.Webhook.EmailSecretFile); err != nil {
			fail(err)
		} else if s.email, err = delivery.NewWebhook(delivery.WebhookConfig{URL: cfg.Webhook.EmailURL, Secret: []byte(secret),
			Client: client}); err != nil {
			fail(fmt.Errorf("AUTHSVC_EMAIL_WEBHOOK_URL / AUTHSVC_EMAIL_WEBHOOK_SECRET_FILE: %w", err))
		}
	} else if email, err := newSMTPSender(cfg.SMTP); err != nil {
		fail(err)
	} else {
		s.email = email
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &s, nil
}

// keyringOptions are the signing keyring's settings: the pinned key, the publish
// lead and the assertion lifetime its retired keys must outlive.
func keyringOptions(cfg *Config, log *slog.Logger) assertion.KeyringOptions {
	if log != nil {
		log = log.With("component", "signing-keys")
	}
	return assertion.KeyringOptions{
		Active:      cfg.Keys.SigningKeyActive,
		Now:         time.Now,
		PublishLead: cfg.Keys.SigningPublishLead,
		Lifetime:    cfg.Assertion.TTL,
		Logger:      log,
	}
}

// reloadKeys re-reads the signing-keys directory every period until ctx is done.
// A failed reload keeps the keys in use and is logged.
func reloadKeys(ctx context.Context, ring *assertion.Keyring, period time.Duration, log *slog.Logger) {
	every(ctx, period, func() {
		if err := ring.Reload(); err != nil {
			log.Error("reload signing keys; the keys in use are kept", "err", err)
		}
	})
}

// every runs f every period until ctx is done.
func every(ctx context.Context, period time.Duration, f func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// unusableClients reports the clients of the file that could never authenticate
// with the gRPC listener's settings: clients named only by a certificate when
// no client CA is set, and clients with only an API key when every connection
// must present a certificate.
func unusableClients(cfg *Config, clients *grpcapi.Clients) error {
	var errs []error
	if ids := clients.CertOnly(); len(ids) > 0 && cfg.Listen.ClientCAFile == "" {
		errs = append(errs, fmt.Errorf("AUTHSVC_CLIENTS_FILE: clients %s authenticate only by certificate, but AUTHSVC_CLIENT_CA_FILE is not set: set it (with AUTHSVC_TLS_CERT_FILE), or give them an api_key_sha256",
			strings.Join(ids, ", ")))
	}
	if ids := clients.KeyOnly(); len(ids) > 0 && cfg.Listen.ClientAuth == clientAuthMTLSOnly {
		errs = append(errs, fmt.Errorf("AUTHSVC_CLIENTS_FILE: clients %s have no cert, but AUTHSVC_CLIENT_AUTH=mtls-only refuses every connection without a client certificate: give them a cert, or set AUTHSVC_CLIENT_AUTH=any",
			strings.Join(ids, ", ")))
	}
	return errors.Join(errs...)
}

// reloadClients re-reads the clients file every cfg.ClientsReload until ctx is done, so
// that a key or certificate removed from it is refused from the next call on. A
// failed reload keeps the clients in use and is logged; so is a new file whose
// clients cannot authenticate (see unusableClients), which is used anyway.
func reloadClients(ctx context.Context, clients *grpcapi.Clients, cfg *Config, log *slog.Logger) {
	every(ctx, cfg.ClientsReload, func() {
		changed, err := clients.Reload()
		switch {
		case err != nil:
			log.Error("reload api clients; the clients in use are kept", "err", err)
		case changed:
			log.Info("api clients reloaded")
			if err := unusableClients(cfg, clients); err != nil {
				log.Warn("reloaded api clients include clients that cannot authenticate", "err", err)
			}
		}
	})
}

// newSMTPSender builds the SMTP sender from its settings and files.
func newSMTPSender(c SMTPConfig) (*delivery.SMTP, error) {
	dc := delivery.SMTPConfig{Host: c.Host, Port: c.Port, Username: c.Username, From: c.From}
	switch c.TLS {
	case "tls":
		dc.TLS = delivery.TLSImplicit
	case "none":
		dc.TLS = delivery.TLSNone
	default:
		dc.TLS = delivery.TLSStartTLS
	}
	var errs []error
	if c.PasswordFile != "" {
		pw, err := readSecretFile("AUTHSVC_SMTP_PASSWORD_FILE", c.PasswordFile)
		if err != nil {
			errs = append(errs, err)
		}
		dc.Password = pw
	}
	if c.CAFile != "" {
		pool, err := readCAFile("AUTHSVC_SMTP_CA_FILE", c.CAFile)
		if err != nil {
			errs = append(errs, err)
		}
		dc.RootCAs = pool
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s, err := delivery.NewSMTP(dc)
	if err != nil {
		return nil, fmt.Errorf("AUTHSVC_SMTP_*: %w", err)
	}
	return s, nil
}

// devSecrets generates everything dev mode needs: a random keyed-hash key, a
// random key-encryption key, an ephemeral Ed25519 signing key, the "dev" API
// client and the outbox as the only sender. Nothing outlives the process: TOTP
// seeds enrolled in dev mode cannot be opened after a restart.
func devSecrets(cfg *Config) (*secrets, error) {
	var s secrets
	secret := make([]byte, keyedhash.MinKeyLen)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("dev hmac key: %w", err)
	}
	var err error
	if s.hashKeys, err = keyedhash.NewRing(keyedhash.Key{ID: "dev", Secret: secret}); err != nil {
		return nil, fmt.Errorf("dev hmac key: %w", err)
	}
	if s.seals, err = seal.Ephemeral(rand.Reader); err != nil {
		return nil, fmt.Errorf("dev key-encryption key: %w", err)
	}
	key, err := assertion.GenerateKey(assertion.AlgEdDSA)
	if err != nil {
		return nil, fmt.Errorf("dev signing key: %w", err)
	}
	if s.keyring, err = assertion.NewKeyring([]crypto.Signer{key}, 0); err != nil {
		return nil, fmt.Errorf("dev signing key: %w", err)
	}
	// Dev only: client "dev" may call everything and name any audience, scope
	// and data class. A clients file has to name them.
	devGrants := grpcapi.Grants{
		RPCs:      []string{grpcapi.AnyValue},
		Audiences: []string{grpcapi.AnyValue},
		Scopes:    []string{grpcapi.AnyValue},
	}
	if s.clients, err = grpcapi.NewClientsWithGrants(map[string]string{"dev": cfg.Dev.APIKey},
		map[string]grpcapi.Grants{"dev": devGrants}); err != nil {
		return nil, fmt.Errorf("dev api client: %w", err)
	}
	s.outbox = delivery.NewOutbox(200)
	s.email, s.sms = s.outbox, s.outbox
	return &s, nil
}

// grpcTLSConfig returns the gRPC listener's TLS configuration: tlsConfig for
// cert and, with clientCAs, client certificates verified against them when the
// client presents one (clientAuthAny) or required (clientAuthMTLSOnly). grpcapi
// maps a verified certificate to its client. The HTTP listener never asks for
// one: customers' browsers have none.
func grpcTLSConfig(cert *tls.Certificate, clientCAs *x509.CertPool, clientAuth string) *tls.Config {
	c := tlsConfig(cert)
	if clientCAs != nil {
		c.ClientCAs = clientCAs
		c.ClientAuth = tls.VerifyClientCertIfGiven
		if clientAuth == clientAuthMTLSOnly {
			c.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return c
}

// clientAuthMode names how gRPC callers authenticate, for the start-up log.
func clientAuthMode(cfg *Config, sec *secrets) string {
	if sec.serving == nil || !sec.serving.hasClientCA() {
		return "api-key"
	}
	return cfg.Listen.ClientAuth
}

// tlsConfig returns the serving TLS configuration for cert.
func tlsConfig(cert *tls.Certificate) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*cert}}
}

package web

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// readyTimeout bounds one readiness check.
const readyTimeout = 2 * time.Second

// jwksDoc serves the public keys. They are public and change only on rotation:
// cacheable for five minutes and revalidated with the ETag.
func (s *server) jwksDoc(w http.ResponseWriter, r *http.Request) {
	etag := s.jwks.JWKSETag()
	h := w.Header()
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("ETag", etag)
	h.Set("Access-Control-Allow-Origin", "*")
	if etagMatches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/jwk-set+json")
	_, _ = w.Write(s.jwks.JWKS())
}

// etagMatches implements If-None-Match's weak comparison (RFC 9110 13.1.2).
func etagMatches(header, etag string) bool {
	if header == "" || etag == "" {
		return false
	}
	want := strings.TrimPrefix(etag, "W/")
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == want {
			return true
		}
	}
	return false
}

// healthz says the process serves HTTP; it checks nothing else.
func (s *server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// readyz says whether the service can serve requests (its dependencies answer).
func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.ready(ctx); err != nil {
		s.log.WarnContext(r.Context(), "not ready", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// devOutbox lists what development mode would have sent, codes and links
// included. It exists only when Config.DevOutbox is set.
func (s *server) devOutbox(w http.ResponseWriter, _ *http.Request) {
	entries := s.cfg.DevOutbox.List()
	rows := make([]outboxRow, 0, len(entries))
	for _, e := range entries {
		rows = append(rows, outboxRow{Channel: e.Channel.String(), To: e.To, Subject: e.Subject, Text: e.Text,
			Sent: e.Sent.UTC()})
	}
	v := &view{catalog: catalogs[0], Title: "Dev outbox", Outbox: rows, ShowEvents: s.cfg.DevEvents != nil}
	if s.cfg.DevEvents != nil {
		for _, a := range s.cfg.DevEvents.List() {
			body := a.Body
			var pretty bytes.Buffer
			if json.Indent(&pretty, a.Body, "", "  ") == nil {
				body = pretty.Bytes()
			}
			v.Events = append(v.Events, eventRow{Time: a.Time.UTC(), ID: a.EventID, Type: a.Type, Client: a.Client,
				URL: a.URL, Outcome: a.Outcome, Status: a.Status, Error: a.Error, N: a.N, Body: string(body)})
		}
	}
	s.render(w, http.StatusOK, viewOutbox, v)
}

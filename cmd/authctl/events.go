package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	cloudevent "github.com/cloudevents/sdk-go/v2/event"

	"github.com/authsvc/authsvc/internal/events"
)

// defaultTailAddr is where dev mode sends the dev client's events (AUTHSVC_DEV_EVENTS_URL).
const defaultTailAddr = "127.0.0.1:9797"

// cmdEvents runs "events tail": a local receiver of authsvc's events. It listens, checks each
// delivery's Standard Webhooks signature, prints the event and answers 204; a delivery that
// does not verify gets 401 and a line on stderr. A repeated id (authsvc delivers at least once)
// is marked as such. It talks to no gRPC server.
func cmdEvents(ctx context.Context, args []string, e env) int {
	if len(args) == 0 || args[0] != "tail" {
		return usageError(e, errors.New("events: want the subcommand tail"))
	}
	var listen, path, secretFile string
	var asJSON bool
	var count int
	fs := newFlagSet("events tail")
	fs.StringVar(&listen, "listen", defaultTailAddr, "")
	fs.StringVar(&path, "path", "/events", "")
	fs.StringVar(&secretFile, "secret-file", "", "")
	fs.BoolVar(&asJSON, "json", false, "")
	fs.IntVar(&count, "count", 0, "")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return usageError(e, fmt.Errorf("events tail: %w", err))
	}
	if err := requireArgs("events tail", pos, 0, ""); err != nil {
		return usageError(e, err)
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return usageError(e, fmt.Errorf("events tail: --listen: want host:port, got %q", listen))
	}
	raw := events.DevSecret
	if secretFile != "" {
		b, err := os.ReadFile(secretFile)
		if err != nil {
			fmt.Fprintf(e.stderr, "authctl: events tail: --secret-file: %v\n", err)
			return exitFailure
		}
		raw = string(b)
	} else if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return usageError(e, errors.New("events tail: --secret-file is required off a loopback address (the dev secret is public)"))
	}
	secret, err := events.ParseSecret(raw)
	if err != nil {
		fmt.Fprintf(e.stderr, "authctl: events tail: --secret-file: %v\n", err)
		return exitFailure
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}

	lis, err := (&net.ListenConfig{}).Listen(ctx, "tcp", listen)
	if err != nil {
		fmt.Fprintf(e.stderr, "authctl: events tail: %v\n", err)
		return exitFailure
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	t := &tail{out: e.stdout, errOut: e.stderr, secret: secret, json: asJSON, seen: map[string]bool{}, limit: count, stop: stop}
	mux := http.NewServeMux()
	mux.Handle("POST "+path, t)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second}
	fmt.Fprintf(e.stderr, "authctl: receiving events on http://%s%s (Ctrl-C ends)\n", lis.Addr(), path)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	select {
	case <-ctx.Done():
	case err := <-done:
		fmt.Fprintf(e.stderr, "authctl: events tail: %v\n", err)
		return exitFailure
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(e.stderr, "authctl: events tail: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// tail handles the deliveries.
type tail struct {
	out, errOut io.Writer
	secret      events.Secret
	json        bool
	limit       int
	stop        func()

	mu   sync.Mutex
	seen map[string]bool
	n    int
}

func (t *tail) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.secret.Verify(r.Header, body, time.Now()); err != nil {
		fmt.Fprintf(t.errOut, "authctl: refused a delivery: %v\n", err)
		http.Error(w, "signature does not verify", http.StatusUnauthorized)
		return
	}
	var ev cloudevent.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		fmt.Fprintf(t.errOut, "authctl: refused a delivery: not a CloudEvent: %v\n", err)
		http.Error(w, "not a CloudEvent", http.StatusBadRequest)
		return
	}
	dup := t.seen[ev.ID()]
	t.seen[ev.ID()] = true
	if t.json {
		fmt.Fprintln(t.out, string(body))
	} else {
		var d events.Data
		_ = ev.DataAs(&d)
		line := fmt.Sprintf("%s %s %s", ev.Time().Local().Format("15:04:05"), ev.Type(), d.VerificationID)
		for _, f := range []string{d.State, d.Method, d.Outcome, d.Reason} {
			if f != "" {
				line += " " + f
			}
		}
		line += "  id=" + ev.ID()
		if dup {
			line += " (again: already received)"
		}
		fmt.Fprintln(t.out, line)
	}
	w.WriteHeader(http.StatusNoContent)
	if !dup {
		t.n++
		if t.limit > 0 && t.n >= t.limit {
			t.stop()
		}
	}
}

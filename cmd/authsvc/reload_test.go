package main

import (
	"context"
	"crypto"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/assertion"
	"github.com/authsvc/authsvc/internal/syncbuf"
)

func writeSigningKey(t *testing.T, dir, name string) string {
	t.Helper()
	s, err := assertion.GenerateKey("")
	if err != nil {
		t.Fatal(err)
	}
	b, err := assertion.EncodePEM(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".pem"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := assertion.NewKeyring([]crypto.Signer{s}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return k.ActiveKeyID()
}

// reloadKeys publishes a key added to the directory, keeps the keys on a failed
// reload, and returns when its context ends.
func TestReloadKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeSigningKey(t, dir, "a")
	ring, err := assertion.OpenKeyring(dir, assertion.KeyringOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var logs syncbuf.Buffer
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		reloadKeys(ctx, ring, 5*time.Millisecond, slog.New(slog.NewTextHandler(&logs, nil)))
	}()

	kidB := writeSigningKey(t, dir, "b")
	// b has no not_before, like a: a reload refuses the ambiguous schedule and keeps a.
	waitFor(t, func() bool {
		return strings.Contains(logs.String(), "same not_before") || strings.Contains(logs.String(), "no not_before")
	})
	if ring.Has(kidB) {
		t.Fatal("a failed reload changed the keys")
	}
	meta := `{"not_before":"` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + `"}`
	if err := os.WriteFile(filepath.Join(dir, "b.json"), []byte(meta), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return ring.Has(kidB) })

	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("reloadKeys did not stop with its context")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

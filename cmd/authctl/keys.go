package main

import (
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/authsvc/authsvc/internal/assertion"
)

// keyName is what a key file may be called: a Kubernetes Secret key without
// ".pem", not starting with a dot.
var keyName = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]{0,200}$`)

// cmdKeys runs "keys generate": it writes a new signing key and its metadata into
// the signing-keys directory. It talks to no server.
func cmdKeys(args []string, e env, now func() time.Time) int {
	if len(args) == 0 || args[0] != "generate" {
		return usageError(e, errors.New("keys: want the subcommand generate"))
	}
	var dir, alg, name, notBefore, retireAt string
	fs := newFlagSet("keys generate")
	fs.StringVar(&dir, "dir", "", "")
	fs.StringVar(&alg, "alg", assertion.AlgEdDSA, "")
	fs.StringVar(&name, "name", "", "")
	fs.StringVar(&notBefore, "not-before", "+24h", "")
	fs.StringVar(&retireAt, "retire-at", "", "")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return usageError(e, fmt.Errorf("keys generate: %w", err))
	}
	if err := requireArgs("keys generate", pos, 0, ""); err != nil {
		return usageError(e, err)
	}
	t := now().UTC().Truncate(time.Second)
	meta := assertion.KeyMetadata{}
	var problems []string
	if dir == "" {
		problems = append(problems, "--dir is required")
	}
	if alg != assertion.AlgEdDSA && alg != assertion.AlgES256 {
		problems = append(problems, fmt.Sprintf("--alg: want EdDSA or ES256, got %q", alg))
	}
	if meta.NotBefore, err = parseWhen(notBefore, t); err != nil {
		problems = append(problems, "--not-before: "+err.Error())
	}
	if retireAt != "" {
		if meta.RetireAt, err = parseWhen(retireAt, t); err != nil {
			problems = append(problems, "--retire-at: "+err.Error())
		} else if !meta.RetireAt.After(meta.NotBefore) {
			problems = append(problems, "--retire-at: must be after --not-before")
		}
	}
	if name == "" {
		name = meta.NotBefore.Format("20060102-150405")
	}
	if !keyName.MatchString(name) {
		problems = append(problems, fmt.Sprintf("--name: want letters, digits, '.', '_' or '-' (not first '.'), got %q", name))
	}
	if len(problems) > 0 {
		return usageError(e, errors.New("keys generate: "+strings.Join(problems, "; ")))
	}

	signer, err := assertion.GenerateKey(alg)
	if err != nil {
		return keysFailure(e, err)
	}
	pemBytes, err := assertion.EncodePEM(signer)
	if err != nil {
		return keysFailure(e, err)
	}
	ring, err := assertion.NewKeyring([]crypto.Signer{signer}, 0)
	if err != nil {
		return keysFailure(e, err)
	}
	meta.KeyID = ring.ActiveKeyID()
	metaBytes, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return keysFailure(e, err)
	}
	pemPath, metaPath := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".json")
	for _, p := range []string{pemPath, metaPath} {
		if _, err := os.Lstat(p); err == nil {
			return keysFailure(e, fmt.Errorf("%s exists; not overwriting it", p))
		}
	}
	if err := writeNew(pemPath, pemBytes); err != nil {
		return keysFailure(e, err)
	}
	if err := writeNew(metaPath, append(metaBytes, '\n')); err != nil {
		_ = os.Remove(pemPath)
		return keysFailure(e, err)
	}

	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(ring.JWKS(), &set); err != nil || len(set.Keys) != 1 {
		return keysFailure(e, errors.New("encode the JWKS entry"))
	}
	fmt.Fprintf(e.stdout, "wrote %s and %s\nkid:        %s\nnot_before: %s\n", pemPath, metaPath, meta.KeyID, meta.NotBefore.Format(time.RFC3339))
	if !meta.RetireAt.IsZero() {
		fmt.Fprintf(e.stdout, "retire_at:  %s\n", meta.RetireAt.Format(time.RFC3339))
	}
	fmt.Fprintf(e.stdout, "jwk:        %s\n", set.Keys[0])
	return exitOK
}

// parseWhen reads an RFC 3339 time, "now", or "+DURATION" from now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	switch {
	case s == "now":
		return now, nil
	case strings.HasPrefix(s, "+"):
		d, err := time.ParseDuration(s[1:])
		if err != nil || d < 0 {
			return time.Time{}, fmt.Errorf("want RFC 3339, now or +DURATION (e.g. +24h), got %q", s)
		}
		return now.Add(d).Truncate(time.Second), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want RFC 3339, now or +DURATION (e.g. +24h), got %q", s)
	}
	return t.UTC(), nil
}

// writeNew creates path with data, readable by its owner only, refusing to
// replace an existing file.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(path)
		return err
	}
	return nil
}

func keysFailure(e env, err error) int {
	fmt.Fprintf(e.stderr, "authctl: keys generate: %v\n", err)
	return exitFailure
}

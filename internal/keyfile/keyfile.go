// Package keyfile reads the files that hold the service's symmetric key rings
// (the keyed-hash keys and the key-encryption keys): one key a line, "ID:BASE64",
// the current key first. Blank lines and lines starting with # are skipped.
// Errors name the file and line, never a secret.
package keyfile

import (
	"encoding/base64"
	"fmt"
	"os"
	"strings"
)

// Key is one key of a file, as read; the ring that uses it checks the id and length.
type Key struct {
	ID     string
	Secret []byte
}

// Read returns the keys of the file at path, in order. what names the file in a
// read error ("hmac key file").
func Read(path, what string) ([]Key, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	var keys []Key
	for n, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, b64, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want ID:BASE64", path, n+1)
		}
		secret, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: key is not valid base64", path, n+1)
		}
		keys = append(keys, Key{ID: strings.TrimSpace(id), Secret: secret})
	}
	return keys, nil
}

package keyfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keys, err := Read(write("ok", "# comment\n\nk2: AQID\nk1:BAUG\n"), "test file")
	if err != nil || len(keys) != 2 || keys[0].ID != "k2" || string(keys[0].Secret) != "\x01\x02\x03" || keys[1].ID != "k1" {
		t.Fatalf("Read = %+v, %v", keys, err)
	}
	for body, want := range map[string]string{"nocolon\n": ":1: want ID:BASE64", "k:not base64!\n": ":1: key is not valid base64"} {
		_, err := Read(write("bad", body), "test file")
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "base64!") {
			t.Errorf("%q: %v", body, err)
		}
	}
	if _, err := Read(filepath.Join(dir, "missing"), "test file"); err == nil || !strings.Contains(err.Error(), "read test file") {
		t.Errorf("missing file: %v", err)
	}
}

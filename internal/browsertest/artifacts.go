package browsertest

import (
	"os"
	"path/filepath"
)

// EnvArtifacts names the directory screenshots are written to; when unset it is
// artifacts/screenshots under the module root.
const EnvArtifacts = "BROWSER_ARTIFACTS"

// ArtifactsDir returns the directory screenshots are written to, creating it: $BROWSER_ARTIFACTS
// if set, else artifacts/screenshots under the module root (the nearest directory above the
// working directory that holds go.mod; go test runs in the package's directory). Without a
// go.mod above, it is browsertest-artifacts under the system's temporary directory. A directory
// that cannot be created is still returned; writing into it then fails the test.
func ArtifactsDir() string {
	dir := os.Getenv(EnvArtifacts)
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "browsertest-artifacts")
		if root, ok := moduleRoot(); ok {
			dir = filepath.Join(root, "artifacts", "screenshots")
		}
	}
	_ = os.MkdirAll(dir, 0o755)
	return dir
}

// moduleRoot returns the nearest directory at or above the working directory that holds go.mod.
func moduleRoot() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if fi, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && !fi.IsDir() {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

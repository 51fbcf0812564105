package redistest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Environment variables read by the harness.
const (
	// EnvRedisServer names an explicit redis-server binary; when set, PATH is not searched.
	EnvRedisServer = "AUTHSVC_REDIS_SERVER"
	// EnvRedisCLI names an explicit redis-cli binary; when set, nothing else is searched.
	EnvRedisCLI = "AUTHSVC_REDIS_CLI"
)

// installHint is the message of the skip (or, under CI=true, the failure) for a missing binary.
const installHint = "apt-get install -y redis-server"

// missing skips t, or fails it when CI=true, because the named binary was not found.
func missing(t testing.TB, name string) {
	t.Helper()
	msg := name + " not found: " + installHint
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// explicit returns the binary named by env, failing t when it is set but not executable.
// It returns "" when env is unset.
func explicit(t testing.TB, env string) string {
	t.Helper()
	p := os.Getenv(env)
	if p == "" {
		return ""
	}
	abs, err := exec.LookPath(p)
	if err != nil {
		t.Fatalf("%s=%q is not an executable: %v", env, p, err)
	}
	return abs
}

// redisServerPath returns the redis-server binary, or skips/fails t.
func redisServerPath(t testing.TB) string {
	t.Helper()
	if p := explicit(t, EnvRedisServer); p != "" {
		return p
	}
	p, err := exec.LookPath("redis-server")
	if err != nil {
		missing(t, "redis-server")
	}
	return p
}

// redisCLIPath returns the redis-cli binary, or skips/fails t. server is the redis-server in use;
// a redis-cli beside it is preferred over one on PATH.
func redisCLIPath(t testing.TB, server string) string {
	t.Helper()
	if p := explicit(t, EnvRedisCLI); p != "" {
		return p
	}
	if p, err := exec.LookPath(filepath.Join(filepath.Dir(server), "redis-cli")); err == nil {
		return p
	}
	p, err := exec.LookPath("redis-cli")
	if err != nil {
		missing(t, "redis-cli")
	}
	return p
}

package main

import (
	"errors"
	"flag"
	"io"
	"strings"
	"time"
)

// errHelp is returned by parsing when -h or --help was given.
var errHelp = flag.ErrHelp

// defaultAddr is the gRPC address of the dev-mode server (make run).
const defaultAddr = "127.0.0.1:7443"

// globals are the connection flags every command accepts.
type globals struct {
	addr       string
	apiKeyFile string
	tls        bool
	caFile     string
	timeout    time.Duration
	// apiKeyEnv is AUTHSVC_API_KEY as read at start-up.
	apiKeyEnv string
}

func newGlobals(getenv func(string) string) *globals {
	g := &globals{addr: getenv("AUTHSVC_ADDR"), timeout: 10 * time.Second, apiKeyEnv: getenv("AUTHSVC_API_KEY")}
	if g.addr == "" {
		g.addr = defaultAddr
	}
	return g
}

// register adds the global flags to fs, bound to g, so that they are accepted
// both before the command name and among the command's own flags.
func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.addr, "addr", g.addr, "gRPC address host:port")
	fs.StringVar(&g.apiKeyFile, "api-key-file", g.apiKeyFile, "file holding the API key")
	fs.BoolVar(&g.tls, "tls", g.tls, "use TLS")
	fs.StringVar(&g.caFile, "ca-file", g.caFile, "PEM CA bundle (implies --tls)")
	fs.DurationVar(&g.timeout, "timeout", g.timeout, "deadline of each unary call")
}

// newFlagSet returns a FlagSet that reports errors to its caller instead of
// printing them or exiting.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parseInterspersed parses args with fs, allowing positional arguments between
// flags ("assertion verify TOKEN --audience crm"), and returns the positional
// arguments in order. A "--" ends flag parsing; a lone "-" is an argument.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		// fs.Parse stops at the first non-flag argument or just after "--";
		// rest is a suffix of args, so the token before it tells which.
		if i := len(args) - len(rest); i > 0 && args[i-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// listFlag is a repeatable flag whose values may also be comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

// Set appends the comma-separated values in v, refusing empty ones.
func (l *listFlag) Set(v string) error {
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return errors.New("empty value in list")
		}
		*l = append(*l, part)
	}
	return nil
}

// requireArgs checks that exactly n positional arguments were given.
func requireArgs(cmd string, args []string, n int, what string) error {
	switch {
	case len(args) < n:
		return errors.New(cmd + ": missing " + what)
	case len(args) > n:
		return errors.New(cmd + ": unexpected argument " + quote(args[n]))
	}
	return nil
}

func quote(s string) string { return "\"" + s + "\"" }

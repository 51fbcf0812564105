package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisConfig is the store's connection.
type RedisConfig struct {
	// Target is the parsed AUTHSVC_REDIS_URL; zero in dev mode.
	Target redisTarget
	// PasswordFile holds the password of the Redis servers (AUTH).
	PasswordFile string
	// SentinelPasswordFile holds the password of the Sentinels.
	SentinelPasswordFile string
	// CAFile verifies the servers' certificates for TLS URLs.
	CAFile string
	// DialTimeout, ReadTimeout and WriteTimeout bound each connect, read and write.
	DialTimeout, ReadTimeout, WriteTimeout time.Duration
}

// redisMode is the deployment shape a Redis URL names.
type redisMode int

const (
	redisStandalone redisMode = iota + 1
	redisSentinel
	redisCluster
)

func (m redisMode) String() string {
	switch m {
	case redisStandalone:
		return "standalone"
	case redisSentinel:
		return "sentinel"
	case redisCluster:
		return "cluster"
	}
	return "unknown"
}

// redisTarget is a parsed AUTHSVC_REDIS_URL. It never holds a password: those
// come from files.
type redisTarget struct {
	Mode       redisMode
	TLS        bool
	Addrs      []string
	Username   string
	MasterName string
	DB         int
}

// redisMaxRetries is how often go-redis retries a command whose reply was lost;
// every mutating script is idempotent by request id, so a retry is safe.
const redisMaxRetries = 2

// parseRedisURL parses the three URL shapes authsvc accepts:
//
//	redis://[user@]host[:6379][/db]                       standalone (rediss:// for TLS)
//	redis-sentinel://[user@]h1[:26379],h2/master[?db=N]   Sentinel (rediss-sentinel:// for TLS)
//	redis-cluster://[user@]h1[:6379],h2                   Cluster (rediss-cluster:// for TLS)
//
// A password in the URL is refused: it would sit in the environment and in
// process listings. Errors never repeat the URL, which may carry a password.
func parseRedisURL(raw string) (redisTarget, error) {
	var t redisTarget
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return t, errors.New("want redis://host:6379/0, redis-sentinel://host:26379/mastername or redis-cluster://host1:6379,host2:6379")
	}
	switch strings.ToLower(scheme) {
	case "redis":
		t.Mode = redisStandalone
	case "rediss":
		t.Mode, t.TLS = redisStandalone, true
	case "redis-sentinel":
		t.Mode = redisSentinel
	case "rediss-sentinel":
		t.Mode, t.TLS = redisSentinel, true
	case "redis-cluster":
		t.Mode = redisCluster
	case "rediss-cluster":
		t.Mode, t.TLS = redisCluster, true
	default:
		return t, fmt.Errorf("unknown scheme %q: want redis, rediss, redis-sentinel, rediss-sentinel, redis-cluster or rediss-cluster", scheme)
	}
	// Split off query, path and user info by hand: url.Parse refuses a host list.
	rest, query, _ := strings.Cut(rest, "?")
	if i := strings.IndexAny(rest, "#"); i >= 0 {
		return t, errors.New("must not have a fragment")
	}
	hosts, path, _ := strings.Cut(rest, "/")
	if at := strings.LastIndex(hosts, "@"); at >= 0 {
		user := hosts[:at]
		hosts = hosts[at+1:]
		if strings.Contains(user, ":") {
			return t, errors.New("must not carry a password: put it in a file named by AUTHSVC_REDIS_PASSWORD_FILE (AUTHSVC_REDIS_SENTINEL_PASSWORD_FILE for Sentinels)")
		}
		u, err := url.PathUnescape(user)
		if err != nil || u == "" {
			return t, errors.New("bad user name")
		}
		t.Username = u
	}
	defPort := "6379"
	if t.Mode == redisSentinel {
		defPort = "26379"
	}
	for h := range strings.SplitSeq(hosts, ",") {
		if h == "" {
			return t, errors.New("empty host")
		}
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(strings.Trim(h, "[]"), defPort)
		}
		host, port, err := net.SplitHostPort(h)
		if err != nil || host == "" {
			return t, fmt.Errorf("bad host %q", h)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return t, fmt.Errorf("bad port in %q", h)
		}
		t.Addrs = append(t.Addrs, h)
	}
	if t.Mode == redisStandalone && len(t.Addrs) > 1 {
		return t, errors.New("a redis:// URL names one host; use redis-sentinel:// or redis-cluster:// for several")
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return t, errors.New("bad query")
	}
	for k := range q {
		if k != "db" || t.Mode == redisCluster {
			return t, fmt.Errorf("unknown parameter %q (timeouts are AUTHSVC_REDIS_*_TIMEOUT variables)", k)
		}
	}
	path = strings.Trim(path, "/")
	dbText := q.Get("db")
	switch t.Mode {
	case redisStandalone:
		if path != "" {
			if dbText != "" {
				return t, errors.New("database given twice (path and ?db=)")
			}
			dbText = path
		}
	case redisSentinel:
		if path == "" || strings.Contains(path, "/") {
			return t, errors.New("a redis-sentinel URL names the master: redis-sentinel://host1:26379,host2:26379/mymaster")
		}
		t.MasterName = path
	case redisCluster:
		if path != "" {
			return t, errors.New("a redis-cluster URL has no path (Cluster has database 0 only)")
		}
	}
	if dbText != "" {
		n, err := strconv.Atoi(dbText)
		if err != nil || n < 0 || n > 15 {
			return t, fmt.Errorf("database must be a number from 0 to 15, got %q", dbText)
		}
		t.DB = n
	}
	return t, nil
}

// redisSecrets are the Redis passwords, read from their files.
type redisSecrets struct {
	password, sentinelPassword string
	rootCAs                    *x509.CertPool
}

// newRedisClient builds the go-redis client for t: a Client, a FailoverClient
// (Sentinel) or a ClusterClient, all with the same timeouts and retries.
func newRedisClient(cfg RedisConfig, s redisSecrets) redis.UniversalClient {
	t := cfg.Target
	var tlsConf *tls.Config
	if t.TLS {
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: s.rootCAs}
		if t.Mode == redisStandalone {
			host, _, _ := net.SplitHostPort(t.Addrs[0])
			tlsConf.ServerName = host
		}
		// For Sentinel and Cluster the server name is taken from each node's address.
	}
	switch t.Mode {
	case redisSentinel:
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: t.MasterName, SentinelAddrs: t.Addrs, SentinelPassword: s.sentinelPassword,
			Username: t.Username, Password: s.password, DB: t.DB,
			DialTimeout: cfg.DialTimeout, ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout,
			MaxRetries: redisMaxRetries, TLSConfig: tlsConf,
		})
	case redisCluster:
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: t.Addrs, Username: t.Username, Password: s.password,
			DialTimeout: cfg.DialTimeout, ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout,
			MaxRetries: redisMaxRetries, TLSConfig: tlsConf,
		})
	default:
		return redis.NewClient(&redis.Options{
			Addr: t.Addrs[0], Username: t.Username, Password: s.password, DB: t.DB,
			DialTimeout: cfg.DialTimeout, ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout,
			MaxRetries: redisMaxRetries, TLSConfig: tlsConf,
		})
	}
}

// pingTimeout bounds the start-up ping.
const pingTimeout = 5 * time.Second

// ping checks within timeout that Redis answers.
func ping(ctx context.Context, rdb redis.UniversalClient, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if c, ok := rdb.(*redis.ClusterClient); ok {
		// Every master must answer: a decision may land on any slot.
		return c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
			return n.Ping(ctx).Err()
		})
	}
	return rdb.Ping(ctx).Err()
}

// readSecretFile reads a one-line secret, trimming the trailing newline. Errors
// name the variable and the path, never the content.
func readSecretFile(name, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" || strings.ContainsAny(s, "\r\n") {
		return "", fmt.Errorf("%s: %s must hold the secret on one line", name, path)
	}
	return s, nil
}

// readCAFile reads a PEM CA bundle.
func readCAFile(name, path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: %s holds no PEM certificate", name, path)
	}
	return pool, nil
}

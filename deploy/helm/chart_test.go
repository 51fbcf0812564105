// Package helm_test checks the authsvc Helm chart: helm lint --strict passes,
// every rendered document decodes strictly into its Kubernetes API type, and the
// rendered manifests keep the chart's security and wiring invariants.
//
// Helm is not a dependency of the main module: the test runs the helm binary
// of the tool module (go tool -modfile=tools/helm/go.mod helm) and decodes
// with testdata/kubedecode, built from the same tool module. Without a Go
// toolchain able to build them the test skips, except under CI=true where it fails.
package helm_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// kubeVersion is the Kubernetes version the chart is rendered for (the chart
// needs 1.30+; the tool-built helm otherwise assumes an old default).
const kubeVersion = "1.31.0"

// tools locates the repository and the helm tool module.
type tools struct {
	root    string // repository root
	modfile string // tools/helm/go.mod
	helmBin string // the cached helm executable, or "" to run it through go tool
	decoder string // built kubedecode binary
}

// setup checks that helm runs and builds kubedecode, skipping (or failing
// under CI) when they cannot be built.
func setup(t *testing.T) *tools {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	tl := &tools{root: root, modfile: filepath.Join(root, "tools", "helm", "go.mod")}
	unavailable := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf(format, args...)
		}
		t.Skipf("skipping chart test: "+format+" (set CI=true to make this a failure)", args...)
	}
	if _, err := exec.LookPath("go"); err != nil {
		unavailable("no go command on PATH: %v", err)
	}
	if out, err := tl.helm(t, "version", "--short"); err != nil {
		unavailable("cannot build or run helm from %s: %v\n%s", tl.modfile, err, out)
	}
	// go tool -n prints the cached executable it would run; calling it directly
	// saves the module resolution (seconds) on each of the many calls below.
	cmd := exec.CommandContext(t.Context(), "go", "tool", "-n", "-modfile="+tl.modfile, "helm")
	cmd.Dir = root
	if out, err := cmd.Output(); err == nil {
		if p := strings.TrimSpace(string(out)); filepath.IsAbs(p) {
			if _, err := os.Stat(p); err == nil {
				tl.helmBin = p
			}
		}
	}
	tl.decoder = filepath.Join(t.TempDir(), "kubedecode")
	cmd = exec.CommandContext(t.Context(), "go", "build", "-modfile="+tl.modfile, "-o", tl.decoder, "./deploy/helm/testdata/kubedecode")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		unavailable("cannot build testdata/kubedecode: %v\n%s", err, out)
	}
	return tl
}

// helm runs the tool module's helm with args and returns its combined output.
func (tl *tools) helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	var cmd *exec.Cmd
	if tl.helmBin != "" {
		cmd = exec.CommandContext(ctx, tl.helmBin, args...)
	} else {
		cmd = exec.CommandContext(ctx, "go", append([]string{"tool", "-modfile=" + tl.modfile, "helm"}, args...)...)
	}
	cmd.Dir = tl.root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// render runs helm template with the values files and --set pairs given; a
// pair prefixed "json:" goes to --set-json.
func (tl *tools) render(t *testing.T, values []string, sets ...string) (string, error) {
	t.Helper()
	args := []string{"template", "rel", "deploy/helm/authsvc", "--namespace", "care", "--kube-version", kubeVersion}
	for _, v := range values {
		args = append(args, "-f", filepath.Join("deploy", "helm", "testdata", v))
	}
	for _, s := range sets {
		if j, ok := strings.CutPrefix(s, "json:"); ok {
			args = append(args, "--set-json", j)
		} else {
			args = append(args, "--set", s)
		}
	}
	return tl.helm(t, args...)
}

// doc is one rendered document as kubedecode prints it.
type doc struct {
	Kind   string         `json:"kind"`
	Name   string         `json:"name"`
	Object map[string]any `json:"object"`
}

// decode strictly decodes rendered manifests with kubedecode.
func (tl *tools) decode(t *testing.T, manifests string) []doc {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), tl.decoder)
	cmd.Stdin = strings.NewReader(manifests)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("strict decode: %v\n%s", err, stderr.String())
	}
	var docs []doc
	if err := json.Unmarshal(out, &docs); err != nil {
		t.Fatal(err)
	}
	return docs
}

func TestChart(t *testing.T) {
	tl := setup(t)

	t.Run("lint", func(t *testing.T) {
		for _, v := range []string{"minimal.yaml", "full.yaml"} {
			t.Run(v, func(t *testing.T) {
				t.Parallel()
				out, err := tl.helm(t, "lint", "--strict", "deploy/helm/authsvc", "--kube-version", kubeVersion,
					"-f", filepath.Join("deploy", "helm", "testdata", v))
				if err != nil {
					t.Fatalf("helm lint --strict: %v\n%s", err, out)
				}
			})
		}
	})

	cases := []struct {
		name      string
		values    []string
		sets      []string
		wantKinds []string
		check     func(t *testing.T, docs map[string]doc)
	}{
		{"minimal.yaml", []string{"minimal.yaml"}, nil, []string{"Deployment", "NetworkPolicy", "PodDisruptionBudget", "Service", "ServiceAccount"}, func(t *testing.T, docs map[string]doc) {
			spec := docs["Deployment"].Object["spec"].(map[string]any)
			if spec["replicas"] != float64(2) {
				t.Errorf("replicas = %v, want 2", spec["replicas"])
			}
			env := containerEnv(t, docs["Deployment"])
			if env["AUTHSVC_GRPC_REFLECTION"] != "false" {
				t.Errorf("reflection = %q, want false by default", env["AUTHSVC_GRPC_REFLECTION"])
			}
			for _, absent := range []string{"AUTHSVC_REDIS_PASSWORD_FILE", "AUTHSVC_CHANNELS_FILE", "AUTHSVC_HANDOVER_TTL", "AUTHSVC_SMTP_PASSWORD_FILE", "AUTHSVC_SMTP_USERNAME",
				"AUTHSVC_TLS_CERT_FILE", "AUTHSVC_TLS_KEY_FILE", "AUTHSVC_CLIENT_CA_FILE", "AUTHSVC_CLIENT_AUTH"} {
				if _, ok := env[absent]; ok {
					t.Errorf("%s set although its value is not", absent)
				}
			}
			// Unset limits are left to the service's defaults.
			for name := range limitEnv {
				if v, ok := env[name]; ok {
					t.Errorf("%s=%q set although limits leave it unset", name, v)
				}
			}
			for name := range grpcEnv {
				if v, ok := env[name]; ok {
					t.Errorf("%s=%q set although grpc leaves it unset", name, v)
				}
			}
			for name := range smsEnv {
				if v, ok := env[name]; ok {
					t.Errorf("%s=%q set although sms leaves it unset", name, v)
				}
			}
			// By default: each port from the release's namespace only; DNS to the
			// cluster DNS pods; Redis, SMTP and the webhook by port.
			samespace := `[{"podSelector":{}}]`
			kubeDNS := `[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"kube-system"}},"podSelector":{"matchLabels":{"k8s-app":"kube-dns"}}}]`
			checkPolicy(t, docs["NetworkPolicy"], "ingress", map[string]string{"8443/TCP": samespace, "8080/TCP": samespace, "9090/TCP": samespace})
			checkPolicy(t, docs["NetworkPolicy"], "egress", map[string]string{"53/UDP": kubeDNS, "53/TCP": kubeDNS, "6379/TCP": "", "587/TCP": "", "443/TCP": ""})
			// Tracing is off unless otel.endpoint is set.
			for name, v := range env {
				if strings.HasPrefix(name, "OTEL_") {
					t.Errorf("%s=%q set although otel.endpoint is empty", name, v)
				}
			}
		}},
		{"full.yaml", []string{"full.yaml"}, nil, []string{"Deployment", "HorizontalPodAutoscaler", "Ingress", "NetworkPolicy", "PodDisruptionBudget", "Service", "ServiceAccount", "ServiceMonitor"}, func(t *testing.T, docs map[string]doc) {
			spec := docs["Deployment"].Object["spec"].(map[string]any)
			if _, ok := spec["replicas"]; ok {
				t.Error("replicas set although the HPA owns them")
			}
			env := containerEnv(t, docs["Deployment"])
			for _, want := range []string{"AUTHSVC_REDIS_PASSWORD_FILE", "AUTHSVC_REDIS_SENTINEL_PASSWORD_FILE", "AUTHSVC_REDIS_CA_FILE", "AUTHSVC_SMTP_PASSWORD_FILE", "AUTHSVC_CHANNELS_FILE", "AUTHSVC_HANDOVER_TTL", "AUTHSVC_HANDOVER_CODE_TTL", "AUTHSVC_CALL_CODE_FAILURES", "AUTHSVC_CALL_CODE_CALLER_FAILURES", "AUTHSVC_CALL_CODE_CLIENT_FAILURES", "AUTHSVC_SMTP_USERNAME", "AUTHSVC_SIGNING_KEY_ACTIVE", "AUTHSVC_MAX_ATTEMPTS"} {
				if _, ok := env[want]; !ok {
					t.Errorf("%s missing", want)
				}
			}
			for name, want := range map[string]string{"AUTHSVC_SIGNING_PUBLISH_LEAD": "15m", "AUTHSVC_SIGNING_KEYS_RELOAD": "30s",
				"AUTHSVC_TLS_CERT_FILE": "/var/run/secrets/authsvc/tls-cert/tls.crt", "AUTHSVC_TLS_KEY_FILE": "/var/run/secrets/authsvc/tls-key/tls.key",
				"AUTHSVC_CLIENT_CA_FILE": "/var/run/secrets/authsvc/client-ca/ca.crt", "AUTHSVC_CLIENT_AUTH": "mtls-only",
				"AUTHSVC_AUDIT_SINK": "postgres", "AUTHSVC_AUDIT_BUFFER": "2d", "AUTHSVC_AUDIT_RETENTION": "365d",
				"AUTHSVC_AUDIT_POSTGRES_URL":           "postgres://authsvc@audit-db:5432/audit?sslmode=verify-full",
				"AUTHSVC_AUDIT_POSTGRES_PASSWORD_FILE": "/var/run/secrets/authsvc/audit-postgres-password/password",
				"AUTHSVC_EVENTS_ENDPOINTS":             "platform-a=https://care.platform-a.example/hooks/authsvc,ivr=https://ivr.acme.example:8443/events",
				"AUTHSVC_EVENTS_SECRETS_DIR":           "/var/run/secrets/authsvc/event-secrets",
				"AUTHSVC_EVENTS_MAX_AGE":               "12h", "AUTHSVC_EVENTS_TIMEOUT": "5s",
				"AUTHSVC_EVENTS_MAX_BACKOFF": "2m", "AUTHSVC_EVENTS_CONCURRENCY": "8"} {
				if env[name] != want {
					t.Errorf("%s = %q, want %q", name, env[name], want)
				}
			}
			for name, want := range limitEnv {
				if env[name] != want {
					t.Errorf("%s = %q, want %q", name, env[name], want)
				}
			}
			for name, want := range grpcEnv {
				if env[name] != want {
					t.Errorf("%s = %q, want %q", name, env[name], want)
				}
			}
			for name, want := range smsEnv {
				if env[name] != want {
					t.Errorf("%s = %q, want %q", name, env[name], want)
				}
			}
			for name, want := range otelEnv {
				if env[name] != want {
					t.Errorf("%s = %q, want %q", name, env[name], want)
				}
			}
			checkPodNameEnv(t, docs["Deployment"])
			rule := get(docs["Ingress"].Object, "spec", "rules").([]any)[0].(map[string]any)
			if rule["host"] != "care.acme.example" {
				t.Errorf("ingress host %v, want the host of publicURL", rule["host"])
			}
			ep := get(docs["ServiceMonitor"].Object, "spec", "endpoints").([]any)[0].(map[string]any)
			if ep["port"] != "metrics" || ep["path"] != "/metrics" {
				t.Errorf("ServiceMonitor endpoint %v", ep)
			}
			// The peers as given; Redis on the Sentinel URL's port and redisPorts
			// (which replaces the default data port); SMTP on implicit TLS's 465;
			// the extra rules added.
			kubeDNS := `[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"kube-system"}},"podSelector":{"matchLabels":{"k8s-app":"kube-dns"}}},{"ipBlock":{"cidr":"169.254.20.10/32"}}]`
			data := `[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"data"}}}]`
			checkPolicy(t, docs["NetworkPolicy"], "ingress", map[string]string{
				"8443/TCP": `[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"care-platform"}},"podSelector":{"matchLabels":{"app":"connector"}}}]` +
					` [{"ipBlock":{"cidr":"10.20.0.0/16","except":["10.20.99.0/24"]}}]`,
				"8080/TCP": `[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"ingress-nginx"}}}]`,
				"9090/TCP": `[{"namespaceSelector":{"matchExpressions":[{"key":"kubernetes.io/metadata.name","operator":"In","values":["monitoring"]}]}}]`,
			})
			checkPolicy(t, docs["NetworkPolicy"], "egress", map[string]string{
				"53/UDP": kubeDNS, "53/TCP": kubeDNS, "26379/TCP": data, "6380/TCP": data, "5432/TCP": data,
				"465/TCP":  `[{"ipBlock":{"cidr":"203.0.113.25/32"}}]`,
				"443/TCP":  `[{"ipBlock":{"cidr":"198.51.100.0/24"}},{"ipBlock":{"cidr":"2001:db8::/32"}}] [{"ipBlock":{"cidr":"192.0.2.0/24"}}]`,
				"8443/TCP": `[{"ipBlock":{"cidr":"192.0.2.0/24"}}]`,
				"4317/TCP": `[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"observability"}}}]`,
			})
		}},
		{"networkpolicy-open.yaml", []string{"minimal.yaml", "networkpolicy-open.yaml"}, nil, []string{"Deployment", "NetworkPolicy", "PodDisruptionBudget", "Service", "ServiceAccount"}, func(t *testing.T, docs map[string]doc) {
			// Empty peer lists: every source, every DNS destination; still only these ports.
			checkPolicy(t, docs["NetworkPolicy"], "ingress", map[string]string{"8443/TCP": "", "8080/TCP": "", "9090/TCP": ""})
			checkPolicy(t, docs["NetworkPolicy"], "egress", map[string]string{"53/UDP": "", "53/TCP": "", "6379/TCP": "", "587/TCP": "", "443/TCP": ""})
		}},
		{"networkpolicy-disabled", []string{"minimal.yaml"}, []string{"networkPolicy.enabled=false"}, []string{"Deployment", "PodDisruptionBudget", "Service", "ServiceAccount"}, func(*testing.T, map[string]doc) {}},
		{"standalone-ports", []string{"minimal.yaml"}, []string{"redis.url=rediss://authsvc@r.data.svc:6380/1", "smtp.port=2525", "sms.webhookURL=https://sms.acme.example:8443/send"}, []string{"Deployment", "NetworkPolicy", "PodDisruptionBudget", "Service", "ServiceAccount"}, func(t *testing.T, docs map[string]doc) {
			kubeDNS := `[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"kube-system"}},"podSelector":{"matchLabels":{"k8s-app":"kube-dns"}}}]`
			checkPolicy(t, docs["NetworkPolicy"], "egress", map[string]string{"53/UDP": kubeDNS, "53/TCP": kubeDNS, "6380/TCP": "", "2525/TCP": "", "8443/TCP": ""})
		}},
		{"audit-database-port", []string{"minimal.yaml"}, []string{"audit.sink=postgres", "audit.postgres.url=postgres://authsvc@pg.data.svc:6432/audit"}, []string{"Deployment", "NetworkPolicy", "PodDisruptionBudget", "Service", "ServiceAccount"}, func(t *testing.T, docs map[string]doc) {
			// The postgres sink opens egress to the database's port, to any destination unless
			// networkPolicy.egress.auditDatabase names it.
			kubeDNS := `[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"kube-system"}},"podSelector":{"matchLabels":{"k8s-app":"kube-dns"}}}]`
			checkPolicy(t, docs["NetworkPolicy"], "egress", map[string]string{"53/UDP": kubeDNS, "53/TCP": kubeDNS, "6379/TCP": "", "587/TCP": "", "443/TCP": "", "6432/TCP": ""})
		}},
		{"cluster-ports", []string{"minimal.yaml"}, []string{"redis.url=redis-cluster://n1.data.svc:7000\\,n2.data.svc:7001\\,n3.data.svc"}, []string{"Deployment", "NetworkPolicy", "PodDisruptionBudget", "Service", "ServiceAccount"}, func(t *testing.T, docs map[string]doc) {
			kubeDNS := `[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"kube-system"}},"podSelector":{"matchLabels":{"k8s-app":"kube-dns"}}}]`
			checkPolicy(t, docs["NetworkPolicy"], "egress", map[string]string{"53/UDP": kubeDNS, "53/TCP": kubeDNS, "7000/TCP": "", "7001/TCP": "", "6379/TCP": "", "587/TCP": "", "443/TCP": ""})
		}},
	}
	var (
		mu       sync.Mutex
		rendered = map[string]bool{} // templates that produced a document in some case
	)
	t.Run("render", func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				out, err := tl.render(t, tc.values, tc.sets...)
				if err != nil {
					t.Fatalf("helm template: %v\n%s", err, out)
				}
				mu.Lock()
				for _, m := range regexp.MustCompile(`(?m)^# Source: authsvc/templates/(\S+)$`).FindAllStringSubmatch(out, -1) {
					rendered[m[1]] = true
				}
				mu.Unlock()
				checkNoSecrets(t, out)
				byKind := map[string]doc{}
				var kinds []string
				for _, d := range tl.decode(t, out) {
					if _, dup := byKind[d.Kind]; dup {
						t.Errorf("two %s documents", d.Kind)
					}
					byKind[d.Kind] = d
					kinds = append(kinds, d.Kind)
					if d.Name != "rel-authsvc" {
						t.Errorf("%s named %q", d.Kind, d.Name)
					}
				}
				if got, want := strings.Join(sorted(kinds), " "), strings.Join(tc.wantKinds, " "); got != want {
					t.Errorf("kinds %s, want %s", got, want)
				}
				checkDeployment(t, byKind["Deployment"])
				checkService(t, byKind["Service"])
				if np, ok := byKind["NetworkPolicy"]; ok {
					checkNetworkPolicy(t, np)
				}
				tc.check(t, byKind)
			})
		}
	})
	// Every manifest template renders in some case above (NOTES.txt and the
	// helpers are rendered by the lint).
	templates, err := filepath.Glob(filepath.Join(tl.root, "deploy", "helm", "authsvc", "templates", "*.yaml"))
	if err != nil || len(templates) == 0 {
		t.Fatalf("templates: %v", err)
	}
	for _, tpl := range templates {
		if !rendered[filepath.Base(tpl)] {
			t.Errorf("no render case produces templates/%s", filepath.Base(tpl))
		}
	}

	refusals := []struct {
		name string
		sets []string
		want string
	}{
		{"missing publicURL", []string{"publicURL="}, "publicURL"},
		{"http publicURL", []string{"publicURL=http://verify.acme.example"}, "publicURL"},
		{"missing brand", []string{"brand="}, "brand"},
		{"missing redis url", []string{"redis.url="}, "redis/url"},
		{"password in redis url", []string{"redis.url=redis://:hunter2@redis:6379"}, "redis/url"},
		{"unknown redis scheme", []string{"redis.url=memcached://m:11211"}, "redis/url"},
		{"missing hmac keys secret", []string{"secrets.hmacKeys="}, "hmacKeys"},
		{"missing signing keys secret", []string{"secrets.signingKeys="}, "signingKeys"},
		{"missing clients secret", []string{"secrets.clients="}, "clients"},
		{"typo in a value", []string{"replicas=3"}, "replicas"},
		{"smtp user without password", []string{"smtp.username=authsvc"}, "secrets.smtpPassword"},
		{"grace period too short", []string{"terminationGracePeriodSeconds=20"}, "terminationGracePeriodSeconds"},
		{"sentinel password without sentinel", []string{"redis.sentinelPasswordSecret=s"}, "sentinel"},
		{"smtp tls none", []string{"smtp.tls=none"}, "smtp/tls"},
		{"client CA without TLS", []string{"tls.clientCASecret=authsvc-client-ca"}, "tls.clientCASecret needs tls.secret"},
		{"mtls-only without a client CA", []string{"tls.secret=authsvc-tls", "tls.clientAuth=mtls-only"}, "tls.clientAuth is mtls-only"},
		{"unknown client auth", []string{"tls.secret=authsvc-tls", "tls.clientCASecret=authsvc-client-ca", "tls.clientAuth=required"}, "clientAuth"},
		{"rate without a window", []string{"limits.destination=5"}, "limits/destination"},
		{"rate in words", []string{"limits.agent=30 per hour"}, "limits/agent"},
		{"failure limit over 100", []string{"limits.identity.failureLimit=101"}, "failureLimit"},
		{"shared failure limit over 200", []string{"limits.identity.sharedFailureLimit=201"}, "sharedFailureLimit"},
		{"shared sends not above the default sends", []string{"limits.identity.sharedSends=3"},
			"limits.identity.sharedSends (3) must be above limits.identity.sends (3)"},
		{"shared failure limit not above a raised one", []string{"limits.identity.failureLimit=40", "limits.identity.sharedFailureLimit=30"},
			"limits.identity.sharedFailureLimit (30) must be above limits.identity.failureLimit (40)"},
		{"shared quiet starts below", []string{"limits.identity.quietStarts=12", "limits.identity.sharedQuietStarts=11"}, "sharedQuietStarts (11)"},
		{"lock not a duration", []string{"limits.identity.firstLock=30"}, "firstLock"},
		{"calling code out of range", []string{"limits.smsCountries={1,1000}"}, "smsCountries"},
		{"typo in a limit", []string{"limits.destinations=5/1h"}, "destinations"},
		{"handshake timeout without a unit", []string{"grpc.handshakeTimeout=5"}, "handshakeTimeout"},
		{"metadata bound too small", []string{"grpc.maxHeaderBytes=512"}, "maxHeaderBytes"},
		{"streams below the watches", []string{"grpc.maxConcurrentStreams=100"}, "grpc.maxConcurrentStreams (100) must be at least grpc.maxWatchesPerClient + 64 (1064)"},
		{"streams below raised watches", []string{"grpc.maxConcurrentStreams=1100", "grpc.maxWatchesPerClient=2000"}, "(2064)"},
		{"health watches out of range", []string{"grpc.maxHealthWatches=1000000"}, "maxHealthWatches"},
		{"typo in a grpc limit", []string{"grpc.maxStreams=2000"}, "maxStreams"},
		{"otel endpoint with credentials", []string{"otel.endpoint=https://user:hunter2@collector:4318"}, "otel/endpoint"},
		{"otel endpoint without a scheme", []string{"otel.endpoint=collector:4317"}, "otel/endpoint"},
		{"unknown otel protocol", []string{"otel.endpoint=http://collector:4318", "otel.protocol=zipkin"}, "otel/protocol"},
		{"unknown sampler", []string{"otel.sampler=jaeger_remote"}, "otel/sampler"},
		{"sampler ratio over 1", []string{"otel.samplerArg=1.5"}, "otel/samplerArg"},
		{"typo in otel", []string{"otel.endpiont=http://collector:4318"}, "endpiont"},
		{"unknown audit sink", []string{"audit.sink=kafka"}, "audit/sink"},
		{"postgres sink without a url", []string{"audit.sink=postgres"}, "audit.postgres.url must name the database"},
		{"password in the postgres url", []string{"audit.sink=postgres", "audit.postgres.url=postgres://authsvc:hunter2@db/audit"}, "audit/postgres/url"},
		{"postgres url without the postgres sink", []string{"audit.postgres.url=postgres://authsvc@db/audit"}, "audit.sink is not postgres"},
		{"audit buffer not a duration", []string{"audit.buffer=3 days"}, "audit/buffer"},
		{"unknown provider rule", []string{"limits.emailProviderRules.gmail\\.com=dots+plus"}, "emailProviderRules"},
		{"unknown breaker mode", []string{"sms.breakers.mode=on"}, "sms/breakers/mode"},
		{"safe list entry not E.164", []string{"sms.breakers.safeList={4420794}"}, "safeList"},
		{"risk hook over http", []string{"sms.risk.hookURL=http://lookup.acme.example/", "secrets.smsRiskHookSecret=risk"}, "hookURL"},
		{"risk hook without its secret", []string{"sms.risk.hookURL=https://lookup.acme.example/"}, "secrets.smsRiskHookSecret must name"},
		{"risk hook secret without the hook", []string{"secrets.smsRiskHookSecret=risk"}, "sms.risk.hookURL is not"},
		// (helm's validator reports the wrong path for a property name: match the name.)
		{"provider rules not a domain", []string{"limits.emailProviderRules.gmail=dots"}, "invalid propertyName 'gmail'"},
		// A misconfigured NetworkPolicy value fails the render with a schema error.
		{"network policy not a boolean", []string{"networkPolicy.enabled=yes"}, "networkPolicy/enabled"},
		{"typo in network policy", []string{"networkPolicy.egres.dns=null"}, "egres"},
		{"typo in a peer", []string{"networkPolicy.ingress.grpc[0].namespaceSelectr.matchLabels.team=care"}, "namespaceSelectr"},
		{"peers not a list", []string{"networkPolicy.ingress.http=ingress-nginx"}, "networkPolicy/ingress/http"},
		{"cidr without a mask", []string{"networkPolicy.egress.smtp[0].ipBlock.cidr=203.0.113.25"}, "networkPolicy/egress/smtp/0/ipBlock/cidr"},
		{"ipBlock with a selector", []string{"networkPolicy.egress.smtp[0].ipBlock.cidr=203.0.113.0/24", "networkPolicy.egress.smtp[0].podSelector.matchLabels.app=relay"}, "networkPolicy/egress/smtp/0"},
		{"empty peer", []string{`json:networkPolicy.egress.redis=[{}]`}, "networkPolicy/egress/redis/0"},
		{"unknown selector operator", []string{"networkPolicy.ingress.metrics[0].namespaceSelector.matchExpressions[0].key=team",
			"networkPolicy.ingress.metrics[0].namespaceSelector.matchExpressions[0].operator=Equals"}, "operator"},
		{"redis port out of range", []string{"networkPolicy.egress.redisPorts={70000}"}, "redisPorts"},
		{"extra egress rule with a typo", []string{"networkPolicy.egress.extra[0].too[0].podSelector.matchLabels.app=otel"}, "too"},
		{"extra egress port protocol", []string{"networkPolicy.egress.extra[0].ports[0].port=4317", "networkPolicy.egress.extra[0].ports[0].protocol=HTTP"}, "protocol"},
	}
	for _, tc := range refusals {
		t.Run("refuses/"+tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := tl.render(t, []string{"minimal.yaml"}, tc.sets...)
			if err == nil {
				t.Fatalf("rendered although %s", tc.name)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("error does not mention %q:\n%s", tc.want, out)
			}
			if strings.Contains(out, "hunter2") {
				t.Errorf("the error echoes a password:\n%s", out)
			}
		})
	}
}

// limitEnv are the abuse-limit variables testdata/full.yaml sets, as rendered.
var limitEnv = map[string]string{
	"AUTHSVC_IDENTITY_FAILURE_LIMIT":        "10",
	"AUTHSVC_IDENTITY_SHARED_FAILURE_LIMIT": "12",
	"AUTHSVC_IDENTITY_FIRST_LOCK":           "1m",
	"AUTHSVC_IDENTITY_LONGEST_LOCK":         "2h",
	"AUTHSVC_IDENTITY_FAILURE_WINDOW":       "48h",
	"AUTHSVC_IDENTITY_SENDS":                "5",
	"AUTHSVC_IDENTITY_SHARED_SENDS":         "9",
	"AUTHSVC_IDENTITY_QUIET_STARTS":         "4",
	"AUTHSVC_IDENTITY_SHARED_QUIET_STARTS":  "7",
	"AUTHSVC_IDENTITY_SEND_WINDOW":          "30m",
	"AUTHSVC_LIMIT_DESTINATION":             "3/30m",
	"AUTHSVC_LIMIT_PREFIX":                  "50/2h",
	"AUTHSVC_LIMIT_COUNTRY":                 "200/1h",
	"AUTHSVC_LIMIT_CLIENT":                  "100/1s",
	"AUTHSVC_LIMIT_AGENT":                   "20/1h",
	"AUTHSVC_LIMIT_CLIENT_DAILY":            "1000000",
	"AUTHSVC_SMS_COUNTRIES":                 "1,44,34",
	"AUTHSVC_EMAIL_PROVIDER_RULES":          "gmail.com:dots+tags,googlemail.com:dots+tags,outlook.com:tags",
}

// smsEnv are the SMS fraud variables testdata/full.yaml sets, as rendered.
var smsEnv = map[string]string{
	"AUTHSVC_SMS_TOLL_FREE":                  "allow",
	"AUTHSVC_SMS_VOIP":                       "refuse",
	"AUTHSVC_SMS_UNKNOWN_TYPE":               "refuse",
	"AUTHSVC_SMS_BREAKER_MODE":               "monitor",
	"AUTHSVC_SMS_BREAKER_COUNTRY_FLOOR_DAY":  "200",
	"AUTHSVC_SMS_BREAKER_COUNTRY_FLOOR_HOUR": "20",
	"AUTHSVC_SMS_BREAKER_COUNTRY_RATIO":      "0.5",
	"AUTHSVC_SMS_BREAKER_PREFIX_FLOOR_DAY":   "5",
	"AUTHSVC_SMS_BREAKER_PREFIX_FLOOR_HOUR":  "2",
	"AUTHSVC_SMS_BREAKER_PREFIX_RATIO":       "2",
	"AUTHSVC_SMS_BREAKER_COOLDOWN":           "2h",
	"AUTHSVC_SMS_BREAKER_GRACE":              "5m",
	"AUTHSVC_SMS_SAFE_LIST":                  "+4420794,+14155550100",
	"AUTHSVC_SMS_RISK_HOOK_URL":              "https://lookup.acme.example/risk",
	"AUTHSVC_SMS_RISK_HOOK_SECRET_FILE":      "/var/run/secrets/authsvc/sms-risk-hook-secret/secret",
	"AUTHSVC_SMS_RISK_HOOK_TIMEOUT":          "150ms",
	"AUTHSVC_SMS_RISK_FAIL":                  "open",
	"AUTHSVC_SMS_RISK_SIM_SWAP":              "3d",
	"AUTHSVC_SMS_RISK_CALL_FORWARDING":       "allow",
}

// grpcEnv are the gRPC transport-limit variables testdata/full.yaml sets, as rendered.
var grpcEnv = map[string]string{
	"AUTHSVC_GRPC_HANDSHAKE_TIMEOUT":        "3s",
	"AUTHSVC_GRPC_MAX_HEADER_BYTES":         "32768",
	"AUTHSVC_GRPC_MAX_CONCURRENT_STREAMS":   "2100",
	"AUTHSVC_GRPC_MAX_CONNECTION_AGE":       "15m",
	"AUTHSVC_GRPC_MAX_CONNECTION_AGE_GRACE": "90m",
	"AUTHSVC_GRPC_MAX_WATCHES_PER_CLIENT":   "2000",
	"AUTHSVC_GRPC_MAX_HEALTH_WATCHES":       "200",
}

// otelEnv are the OpenTelemetry variables testdata/full.yaml sets, as rendered.
var otelEnv = map[string]string{
	"OTEL_EXPORTER_OTLP_ENDPOINT":    "https://otel-collector.observability.svc:4317",
	"OTEL_EXPORTER_OTLP_PROTOCOL":    "grpc",
	"OTEL_SERVICE_NAME":              "authsvc-eu",
	"OTEL_TRACES_SAMPLER":            "parentbased_traceidratio",
	"OTEL_TRACES_SAMPLER_ARG":        "0.25",
	"OTEL_RESOURCE_ATTRIBUTES":       "k8s.namespace.name=care,k8s.pod.name=$(OTEL_K8S_POD_NAME),cloud.region=eu-west-1,deployment.environment.name=prod",
	"OTEL_EXPORTER_OTLP_CERTIFICATE": "/var/run/secrets/authsvc/otel-ca/ca.crt",
}

// checkPodNameEnv checks that OTEL_K8S_POD_NAME, which OTEL_RESOURCE_ATTRIBUTES
// refers to, comes from the downward API and before that reference: Kubernetes
// expands $(VAR) only from variables listed earlier.
func checkPodNameEnv(t *testing.T, d doc) {
	t.Helper()
	c := get(d.Object, "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
	pod, attrs := -1, -1
	for i, e := range c["env"].([]any) {
		e := e.(map[string]any)
		switch e["name"] {
		case "OTEL_K8S_POD_NAME":
			pod = i
			if get(e, "valueFrom", "fieldRef", "fieldPath") != "metadata.name" {
				t.Errorf("OTEL_K8S_POD_NAME = %v, want the pod's metadata.name", e)
			}
		case "OTEL_RESOURCE_ATTRIBUTES":
			attrs = i
		}
	}
	if pod < 0 || attrs < 0 || pod > attrs {
		t.Errorf("OTEL_K8S_POD_NAME at %d, OTEL_RESOURCE_ATTRIBUTES at %d: want both, the pod name first", pod, attrs)
	}
}

// checkNoSecrets fails when the manifests carry secret material: a Secret
// object, data/stringData, or env taken from a Secret (secrets are files).
func checkNoSecrets(t *testing.T, manifests string) {
	t.Helper()
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^kind:\s*Secret\s*$`),
		regexp.MustCompile(`(?m)^\s*(stringData|data):`),
		regexp.MustCompile(`secretKeyRef`),
		regexp.MustCompile(`BEGIN [A-Z ]*PRIVATE KEY`),
		regexp.MustCompile(`://[^/\s"@]*:[^/\s"@]*@`),
	} {
		if loc := bad.FindStringIndex(manifests); loc != nil {
			t.Errorf("rendered output carries secret material (%s): %q", bad, manifests[loc[0]:min(loc[1]+40, len(manifests))])
		}
	}
}

func checkService(t *testing.T, svc doc) {
	t.Helper()
	want := map[string]float64{"grpc": 8443, "http": 8080, "metrics": 9090}
	for _, p := range get(svc.Object, "spec", "ports").([]any) {
		p := p.(map[string]any)
		name, _ := p["name"].(string)
		if p["port"] != want[name] || p["targetPort"] != name {
			t.Errorf("service port %v", p)
		}
		delete(want, name)
	}
	if len(want) > 0 {
		t.Errorf("service lacks ports %v", want)
	}
}

// checkNetworkPolicy checks what every NetworkPolicy of the chart keeps: it
// selects the release's pods, restricts both directions, and admits traffic
// only to the three container ports.
func checkNetworkPolicy(t *testing.T, np doc) {
	t.Helper()
	spec := np.Object["spec"].(map[string]any)
	if got, _ := json.Marshal(spec["podSelector"]); string(got) != `{"matchLabels":{"app.kubernetes.io/instance":"rel","app.kubernetes.io/name":"authsvc"}}` {
		t.Errorf("NetworkPolicy podSelector %s", got)
	}
	if got, _ := json.Marshal(spec["policyTypes"]); string(got) != `["Ingress","Egress"]` {
		t.Errorf("NetworkPolicy policyTypes %s, want both", got)
	}
	for port := range policyRules(t, np, "ingress") {
		if port != "8443/TCP" && port != "8080/TCP" && port != "9090/TCP" {
			t.Errorf("NetworkPolicy admits %s", port)
		}
	}
}

// checkPolicy checks a NetworkPolicy direction ("ingress" or "egress"): the
// ports it allows, and for each the peers of every rule that names it, as
// JSON joined by spaces ("" for a rule without peers, i.e. any peer).
func checkPolicy(t *testing.T, np doc, direction string, want map[string]string) {
	t.Helper()
	got := policyRules(t, np, direction)
	for port, peers := range want {
		if g, ok := got[port]; !ok {
			t.Errorf("%s: %s not allowed", direction, port)
		} else if g != peers {
			t.Errorf("%s %s: peers %s, want %s", direction, port, g, peers)
		}
	}
	for port, peers := range got {
		if _, ok := want[port]; !ok {
			t.Errorf("%s: %s allowed (peers %s) although nothing needs it", direction, port, peers)
		}
	}
}

// policyRules maps each "port/protocol" of a direction's rules to the JSON of
// the peers of the rules naming it. A rule without ports fails the test: it
// would allow every port.
func policyRules(t *testing.T, np doc, direction string) map[string]string {
	t.Helper()
	peersKey := map[string]string{"ingress": "from", "egress": "to"}[direction]
	rules, _ := get(np.Object, "spec", direction).([]any)
	out := map[string]string{}
	for _, r := range rules {
		r := r.(map[string]any)
		ports, _ := r["ports"].([]any)
		if len(ports) == 0 {
			t.Errorf("%s rule without ports allows every port: %v", direction, r)
		}
		peers := ""
		if p, ok := r[peersKey]; ok {
			b, _ := json.Marshal(p)
			peers = string(b)
		}
		for _, p := range ports {
			p := p.(map[string]any)
			key := fmt.Sprintf("%v/%v", p["port"], p["protocol"])
			if prev, ok := out[key]; ok {
				out[key] = prev + " " + peers
			} else {
				out[key] = peers
			}
		}
	}
	return out
}

// checkDeployment checks the pod's security context, probes, shutdown budget
// and that every *_FILE / *_DIR variable points into a read-only Secret mount.
func checkDeployment(t *testing.T, d doc) {
	t.Helper()
	pod := get(d.Object, "spec", "template", "spec").(map[string]any)
	if pod["automountServiceAccountToken"] != false {
		t.Error("automountServiceAccountToken is not false")
	}
	// 65532 is the image's user (deploy/image checks the image side).
	if get(pod, "securityContext", "runAsNonRoot") != true || get(pod, "securityContext", "seccompProfile", "type") != "RuntimeDefault" ||
		get(pod, "securityContext", "runAsUser") != float64(65532) || get(pod, "securityContext", "runAsGroup") != float64(65532) {
		t.Errorf("pod securityContext %v", pod["securityContext"])
	}
	if tsc, _ := pod["topologySpreadConstraints"].([]any); len(tsc) < 2 {
		t.Errorf("topologySpreadConstraints %v", tsc)
	}
	containers := pod["containers"].([]any)
	if len(containers) != 1 {
		t.Fatalf("%d containers", len(containers))
	}
	c := containers[0].(map[string]any)
	sc := c["securityContext"].(map[string]any)
	for k, want := range map[string]any{"runAsNonRoot": true, "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false, "privileged": false} {
		if sc[k] != want {
			t.Errorf("container securityContext.%s = %v, want %v", k, sc[k], want)
		}
	}
	if drop, _ := get(sc, "capabilities", "drop").([]any); len(drop) != 1 || drop[0] != "ALL" {
		t.Errorf("capabilities.drop = %v, want [ALL]", drop)
	}
	if get(sc, "seccompProfile", "type") != "RuntimeDefault" {
		t.Errorf("container seccompProfile %v", sc["seccompProfile"])
	}
	env := containerEnv(t, d)
	// Plaintext: native gRPC probes. TLS served by the pod: HTTPS GETs of the
	// pages' /healthz, since the kubelet's gRPC probes cannot speak TLS.
	_, tlsOn := env["AUTHSVC_TLS_CERT_FILE"]
	healthz := strings.TrimSuffix(urlPath(t, env["AUTHSVC_PUBLIC_URL"]), "/") + "/healthz"
	for _, probe := range []string{"livenessProbe", "readinessProbe", "startupProbe"} {
		p, ok := c[probe].(map[string]any)
		if !ok {
			t.Errorf("%s missing", probe)
			continue
		}
		kind := "grpc"
		if tlsOn {
			kind = "httpGet"
			if get(p, "httpGet", "port") != float64(8080) || get(p, "httpGet", "scheme") != "HTTPS" || get(p, "httpGet", "path") != healthz {
				t.Errorf("%s is not an HTTPS GET of %s on 8080: %v", probe, healthz, p)
			}
		} else if get(p, "grpc", "port") != float64(8443) {
			t.Errorf("%s is not a gRPC probe on 8443: %v", probe, p)
		}
		for _, other := range []string{"grpc", "httpGet", "tcpSocket", "exec"} {
			if _, ok := p[other]; ok && other != kind {
				t.Errorf("%s also has %s", probe, other)
			}
		}
	}

	for _, name := range []string{"AUTHSVC_GRPC_ADDR", "AUTHSVC_HTTP_ADDR", "AUTHSVC_METRICS_ADDR", "AUTHSVC_PUBLIC_URL",
		"AUTHSVC_BRAND", "AUTHSVC_REDIS_URL", "AUTHSVC_HMAC_KEYS_FILE", "AUTHSVC_SIGNING_KEYS_DIR", "AUTHSVC_CLIENTS_FILE",
		"AUTHSVC_SMTP_HOST", "AUTHSVC_SMTP_FROM", "AUTHSVC_SMTP_TLS", "AUTHSVC_SMS_WEBHOOK_URL", "AUTHSVC_SMS_WEBHOOK_SECRET_FILE",
		"AUTHSVC_ASSERTION_TTL", "AUTHSVC_VERIFICATION_TTL", "AUTHSVC_GRPC_REFLECTION", "AUTHSVC_LOG_FORMAT"} {
		if env[name] == "" {
			t.Errorf("env %s missing or empty", name)
		}
	}
	if env["AUTHSVC_LOG_FORMAT"] != "json" {
		t.Errorf("AUTHSVC_LOG_FORMAT = %q", env["AUTHSVC_LOG_FORMAT"])
	}
	if env["AUTHSVC_GRPC_ADDR"] != ":8443" {
		t.Errorf("AUTHSVC_GRPC_ADDR = %q, the port the probes use is 8443", env["AUTHSVC_GRPC_ADDR"])
	}

	// Every *_FILE / *_DIR points into a read-only mount of a Secret volume, and
	// a file is one of the keys that volume projects.
	volumes := map[string]map[string]any{}
	for _, v := range pod["volumes"].([]any) {
		v := v.(map[string]any)
		volumes[v["name"].(string)] = v
	}
	type mount struct {
		path, volume string
		readOnly     bool
	}
	var mounts []mount
	for _, m := range c["volumeMounts"].([]any) {
		m := m.(map[string]any)
		ro, _ := m["readOnly"].(bool)
		mounts = append(mounts, mount{m["mountPath"].(string), m["name"].(string), ro})
	}
	files := 0
	for name, value := range env {
		isFile, isDir := strings.HasSuffix(name, "_FILE"), strings.HasSuffix(name, "_DIR")
		if !isFile && !isDir {
			continue
		}
		files++
		var found *mount
		for i, m := range mounts {
			if (isDir && value == m.path) || (isFile && filepath.Dir(value) == m.path) {
				found = &mounts[i]
			}
		}
		if found == nil {
			t.Errorf("%s=%s is not under any volume mount", name, value)
			continue
		}
		if name == "AUTHSVC_BRAND_LOGO_FILE" {
			// The logo is no secret: a read-only ConfigMap that projects it.
			cm, ok := volumes[found.volume]["configMap"].(map[string]any)
			items, _ := cm["items"].([]any)
			if !ok || !found.readOnly || len(items) != 1 || items[0].(map[string]any)["path"] != filepath.Base(value) {
				t.Errorf("%s=%s: not a read-only ConfigMap mount projecting it: %v", name, value, volumes[found.volume])
			}
			continue
		}
		if !found.readOnly || !strings.HasPrefix(value, "/var/run/secrets/authsvc/") {
			t.Errorf("%s=%s: mount %s is not a read-only /var/run/secrets/authsvc mount", name, value, found.path)
		}
		secret, ok := volumes[found.volume]["secret"].(map[string]any)
		if !ok {
			t.Errorf("%s: volume %s is not a Secret", name, found.volume)
			continue
		}
		if isFile {
			items, _ := secret["items"].([]any)
			projected := false
			for _, it := range items {
				if it.(map[string]any)["path"] == filepath.Base(value) {
					projected = true
				}
			}
			if !projected {
				t.Errorf("%s=%s: Secret %v does not project %s", name, value, secret["secretName"], filepath.Base(value))
			}
		}
	}
	if files < 4 {
		t.Errorf("only %d *_FILE/*_DIR variables", files)
	}

	// The kubelet must not kill a pod before preStop + drain + graceful stop end.
	grace, _ := pod["terminationGracePeriodSeconds"].(float64)
	budget := seconds(t, env["AUTHSVC_SHUTDOWN_DRAIN"]) + seconds(t, env["AUTHSVC_SHUTDOWN_TIMEOUT"])
	if s, ok := get(c, "lifecycle", "preStop", "sleep", "seconds").(float64); ok {
		budget += s
	}
	if grace <= budget {
		t.Errorf("terminationGracePeriodSeconds %v <= shutdown budget %vs", grace, budget)
	}
}

// containerEnv returns the container's literal env values by name; an env
// taken from elsewhere (valueFrom) fails the test.
func containerEnv(t *testing.T, d doc) map[string]string {
	t.Helper()
	c := get(d.Object, "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
	env := map[string]string{}
	for _, e := range c["env"].([]any) {
		e := e.(map[string]any)
		name := e["name"].(string)
		if _, dup := env[name]; dup {
			t.Errorf("env %s set twice", name)
		}
		// Only the downward API: secrets are files, and nothing comes from a ConfigMap.
		if from, ok := e["valueFrom"].(map[string]any); ok && (len(from) != 1 || from["fieldRef"] == nil) {
			t.Errorf("env %s uses valueFrom %v", name, from)
		}
		env[name], _ = e["value"].(string)
	}
	return env
}

// urlPath returns the path of a URL the chart writes.
func urlPath(t *testing.T, s string) string {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Errorf("URL %q: %v", s, err)
		return ""
	}
	return u.Path
}

// seconds parses a Go duration the chart writes ("15s").
func seconds(t *testing.T, s string) float64 {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Errorf("duration %q: %v", s, err)
	}
	return d.Seconds()
}

// get walks nested maps; it returns nil when a key is missing.
func get(m map[string]any, path ...string) any {
	var cur any = m
	for _, k := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[k]
	}
	return cur
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

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
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
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

// render runs helm template with the values files and --set pairs given.
func (tl *tools) render(t *testing.T, values []string, sets ...string) (string, error) {
	t.Helper()
	args := []string{"template", "rel", "deploy/helm/authsvc", "--namespace", "care", "--kube-version", kubeVersion}
	for _, v := range values {
		args = append(args, "-f", filepath.Join("deploy", "helm", "testdata", v))
	}
	for _, s := range sets {
		args = append(args, "--set", s)
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
		values    string
		wantKinds []string
		check     func(t *testing.T, docs map[string]doc)
	}{
		{"minimal.yaml", []string{"Deployment", "PodDisruptionBudget", "Service", "ServiceAccount"}, func(t *testing.T, docs map[string]doc) {
			spec := docs["Deployment"].Object["spec"].(map[string]any)
			if spec["replicas"] != float64(2) {
				t.Errorf("replicas = %v, want 2", spec["replicas"])
			}
			env := containerEnv(t, docs["Deployment"])
			if env["AUTHSVC_GRPC_REFLECTION"] != "false" {
				t.Errorf("reflection = %q, want false by default", env["AUTHSVC_GRPC_REFLECTION"])
			}
			for _, absent := range []string{"AUTHSVC_REDIS_PASSWORD_FILE", "AUTHSVC_SMTP_PASSWORD_FILE", "AUTHSVC_SMTP_USERNAME",
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
		}},
		{"full.yaml", []string{"Deployment", "HorizontalPodAutoscaler", "Ingress", "PodDisruptionBudget", "Service", "ServiceAccount", "ServiceMonitor"}, func(t *testing.T, docs map[string]doc) {
			spec := docs["Deployment"].Object["spec"].(map[string]any)
			if _, ok := spec["replicas"]; ok {
				t.Error("replicas set although the HPA owns them")
			}
			env := containerEnv(t, docs["Deployment"])
			for _, want := range []string{"AUTHSVC_REDIS_PASSWORD_FILE", "AUTHSVC_REDIS_SENTINEL_PASSWORD_FILE", "AUTHSVC_REDIS_CA_FILE", "AUTHSVC_SMTP_PASSWORD_FILE", "AUTHSVC_SMTP_USERNAME", "AUTHSVC_SIGNING_KEY_ACTIVE", "AUTHSVC_MAX_ATTEMPTS"} {
				if _, ok := env[want]; !ok {
					t.Errorf("%s missing", want)
				}
			}
			for name, want := range map[string]string{"AUTHSVC_SIGNING_PUBLISH_LEAD": "15m", "AUTHSVC_SIGNING_KEYS_RELOAD": "30s",
				"AUTHSVC_TLS_CERT_FILE": "/var/run/secrets/authsvc/tls-cert/tls.crt", "AUTHSVC_TLS_KEY_FILE": "/var/run/secrets/authsvc/tls-key/tls.key",
				"AUTHSVC_CLIENT_CA_FILE": "/var/run/secrets/authsvc/client-ca/ca.crt", "AUTHSVC_CLIENT_AUTH": "mtls-only",
				"AUTHSVC_AUDIT_SINK": "postgres", "AUTHSVC_AUDIT_BUFFER": "2d", "AUTHSVC_AUDIT_RETENTION": "365d",
				"AUTHSVC_AUDIT_POSTGRES_URL":           "postgres://authsvc@audit-db:5432/audit?sslmode=verify-full",
				"AUTHSVC_AUDIT_POSTGRES_PASSWORD_FILE": "/var/run/secrets/authsvc/audit-postgres-password/password"} {
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
			rule := get(docs["Ingress"].Object, "spec", "rules").([]any)[0].(map[string]any)
			if rule["host"] != "care.acme.example" {
				t.Errorf("ingress host %v, want the host of publicURL", rule["host"])
			}
			ep := get(docs["ServiceMonitor"].Object, "spec", "endpoints").([]any)[0].(map[string]any)
			if ep["port"] != "metrics" || ep["path"] != "/metrics" {
				t.Errorf("ServiceMonitor endpoint %v", ep)
			}
		}},
	}
	for _, tc := range cases {
		t.Run("render/"+tc.values, func(t *testing.T) {
			t.Parallel()
			out, err := tl.render(t, []string{tc.values})
			if err != nil {
				t.Fatalf("helm template: %v\n%s", err, out)
			}
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
			tc.check(t, byKind)
		})
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
		{"lock not a duration", []string{"limits.identity.firstLock=30"}, "firstLock"},
		{"calling code out of range", []string{"limits.smsCountries={1,1000}"}, "smsCountries"},
		{"typo in a limit", []string{"limits.destinations=5/1h"}, "destinations"},
		{"handshake timeout without a unit", []string{"grpc.handshakeTimeout=5"}, "handshakeTimeout"},
		{"metadata bound too small", []string{"grpc.maxHeaderBytes=512"}, "maxHeaderBytes"},
		{"streams below the watches", []string{"grpc.maxConcurrentStreams=100"}, "grpc.maxConcurrentStreams (100) must be at least grpc.maxWatchesPerClient + 64 (1064)"},
		{"streams below raised watches", []string{"grpc.maxConcurrentStreams=1100", "grpc.maxWatchesPerClient=2000"}, "(2064)"},
		{"health watches out of range", []string{"grpc.maxHealthWatches=1000000"}, "maxHealthWatches"},
		{"typo in a grpc limit", []string{"grpc.maxStreams=2000"}, "maxStreams"},
		{"unknown audit sink", []string{"audit.sink=kafka"}, "audit/sink"},
		{"postgres sink without a url", []string{"audit.sink=postgres"}, "audit.postgres.url must name the database"},
		{"password in the postgres url", []string{"audit.sink=postgres", "audit.postgres.url=postgres://authsvc:hunter2@db/audit"}, "audit/postgres/url"},
		{"postgres url without the postgres sink", []string{"audit.postgres.url=postgres://authsvc@db/audit"}, "audit.sink is not postgres"},
		{"audit buffer not a duration", []string{"audit.buffer=3 days"}, "audit/buffer"},
		{"unknown provider rule", []string{"limits.emailProviderRules.gmail\\.com=dots+plus"}, "emailProviderRules"},
		// (helm's validator reports the wrong path for a property name: match the name.)
		{"provider rules not a domain", []string{"limits.emailProviderRules.gmail=dots"}, "invalid propertyName 'gmail'"},
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
	"AUTHSVC_IDENTITY_FAILURE_LIMIT":  "10",
	"AUTHSVC_IDENTITY_FIRST_LOCK":     "1m",
	"AUTHSVC_IDENTITY_LONGEST_LOCK":   "2h",
	"AUTHSVC_IDENTITY_FAILURE_WINDOW": "48h",
	"AUTHSVC_IDENTITY_SENDS":          "5",
	"AUTHSVC_IDENTITY_SEND_WINDOW":    "30m",
	"AUTHSVC_LIMIT_DESTINATION":       "3/30m",
	"AUTHSVC_LIMIT_PREFIX":            "50/2h",
	"AUTHSVC_LIMIT_COUNTRY":           "200/1h",
	"AUTHSVC_LIMIT_CLIENT":            "100/1s",
	"AUTHSVC_LIMIT_AGENT":             "20/1h",
	"AUTHSVC_LIMIT_CLIENT_DAILY":      "1000000",
	"AUTHSVC_SMS_COUNTRIES":           "1,44,34",
	"AUTHSVC_EMAIL_PROVIDER_RULES":    "gmail.com:dots+tags,googlemail.com:dots+tags,outlook.com:tags",
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

// checkDeployment checks the pod's security context, probes, shutdown budget
// and that every *_FILE / *_DIR variable points into a read-only Secret mount.
func checkDeployment(t *testing.T, d doc) {
	t.Helper()
	pod := get(d.Object, "spec", "template", "spec").(map[string]any)
	if pod["automountServiceAccountToken"] != false {
		t.Error("automountServiceAccountToken is not false")
	}
	if get(pod, "securityContext", "runAsNonRoot") != true || get(pod, "securityContext", "seccompProfile", "type") != "RuntimeDefault" {
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
	for k, want := range map[string]any{"runAsNonRoot": true, "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false} {
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
		if _, ok := e["valueFrom"]; ok {
			t.Errorf("env %s uses valueFrom", name)
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

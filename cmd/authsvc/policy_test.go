package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
)

const customPolicy = `data_classes:
  - data_class: loyalty_points
    description: Points balance
    min_level: low
    max_age: 20m
    channels: [dm]
`

// badPolicy has an unknown level on line 4 and a public reply on line 6.
const badPolicy = `data_classes:
  - data_class: loyalty_points
    description: Points balance
    min_level: medium
    max_age: 20m
    channels: [dm, public_reply]
`

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDisclosurePolicyFileServed(t *testing.T) {
	path := writeFile(t, "policy.yaml", customPolicy)
	in := startService(t, []string{"-dev"}, map[string]string{
		"AUTHSVC_GRPC_ADDR": "127.0.0.1:0", "AUTHSVC_HTTP_ADDR": "127.0.0.1:0", "AUTHSVC_METRICS_ADDR": "127.0.0.1:0",
		"AUTHSVC_DISCLOSURE_POLICY_FILE": path,
	})
	c := newClient(t, in, devAPIKey, nil)
	res, err := authsvcv1.NewAssertionServiceClient(c.conn).GetDisclosurePolicy(c.ctx(t), &authsvcv1.GetDisclosurePolicyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if rules := res.GetRules(); len(rules) != 1 || rules[0].GetDataClass() != "loyalty_points" {
		t.Errorf("served rules = %v, want the file's", rules)
	}
	if logs := in.logs.String(); !strings.Contains(logs, "disclosure policy loaded") || !strings.Contains(logs, path) {
		t.Errorf("the log does not say which policy is in force:\n%s", logs)
	}
}

func TestDefaultDisclosurePolicyServed(t *testing.T) {
	in := startService(t, []string{"-dev"}, map[string]string{
		"AUTHSVC_GRPC_ADDR": "127.0.0.1:0", "AUTHSVC_HTTP_ADDR": "127.0.0.1:0", "AUTHSVC_METRICS_ADDR": "127.0.0.1:0",
	})
	c := newClient(t, in, devAPIKey, nil)
	res, err := authsvcv1.NewAssertionServiceClient(c.conn).GetDisclosurePolicy(c.ctx(t), &authsvcv1.GetDisclosurePolicyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.GetRules()) < 8 || res.GetRules()[0].GetDataClass() != "order_status" {
		t.Errorf("served rules = %v, want the built-in policy", res.GetRules())
	}
}

func TestBadDisclosurePolicyStopsStartUp(t *testing.T) {
	t.Parallel()
	bad := writeFile(t, "policy.yaml", badPolicy)
	wantLines := []string{bad + ":4:", `unknown level "medium"`, bad + ":6:", "public_reply is never allowed"}

	var out, errOut strings.Builder
	err := run(t.Context(), []string{"-dev"}, getenvFrom(map[string]string{
		"AUTHSVC_GRPC_ADDR": "127.0.0.1:0", "AUTHSVC_HTTP_ADDR": "127.0.0.1:0", "AUTHSVC_METRICS_ADDR": "127.0.0.1:0",
		"AUTHSVC_DISCLOSURE_POLICY_FILE": bad,
	}), &out, &errOut, func(Addrs) { t.Error("the service served with a bad policy") })
	if err == nil {
		t.Fatal("start-up succeeded with a bad policy file")
	}
	for _, want := range append(wantLines, "AUTHSVC_DISCLOSURE_POLICY_FILE") {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("start-up error lacks %q:\n%v", want, err)
		}
	}

	err = run(t.Context(), []string{"-config-check"}, getenvFrom(with(prodFiles(t), "AUTHSVC_DISCLOSURE_POLICY_FILE", bad)), &out, &errOut, nil)
	if err == nil {
		t.Fatal("-config-check accepted a bad policy file")
	}
	for _, want := range wantLines {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("-config-check error lacks %q:\n%v", want, err)
		}
	}

	out.Reset()
	good := writeFile(t, "good.yaml", customPolicy)
	if err := run(t.Context(), []string{"-config-check"}, getenvFrom(with(prodFiles(t), "AUTHSVC_DISCLOSURE_POLICY_FILE", good)), &out, &errOut, nil); err != nil ||
		!strings.Contains(out.String(), "configuration OK") {
		t.Errorf("-config-check with a good policy file: %q, %v", out.String(), err)
	}

	missing := filepath.Join(t.TempDir(), "nope.yaml")
	_, err = loadConfig(getenvFrom(map[string]string{"AUTHSVC_DISCLOSURE_POLICY_FILE": missing}), true)
	if err == nil || !strings.Contains(err.Error(), "AUTHSVC_DISCLOSURE_POLICY_FILE: "+missing+" does not exist") {
		t.Errorf("missing policy file: %v", err)
	}
}

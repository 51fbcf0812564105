// Command kubedecode reads the multi-document YAML that helm template prints
// and decodes every document strictly into its k8s.io/api type (unknown or
// duplicate fields are errors), then prints the documents as a JSON array of
// {"kind", "name", "object"} for chart_test.go to inspect.
//
// It lives under testdata so that the main module ignores it: it is built with
// the helm tool module (go build -modfile=tools/helm/go.mod), which already
// depends on k8s.io/api and sigs.k8s.io/yaml.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// typed maps apiVersion/kind to a constructor of the API type it must decode into.
var typed = map[string]func() any{
	"apps/v1/Deployment":                      func() any { return new(appsv1.Deployment) },
	"v1/Service":                              func() any { return new(corev1.Service) },
	"v1/ServiceAccount":                       func() any { return new(corev1.ServiceAccount) },
	"v1/ConfigMap":                            func() any { return new(corev1.ConfigMap) },
	"policy/v1/PodDisruptionBudget":           func() any { return new(policyv1.PodDisruptionBudget) },
	"autoscaling/v2/HorizontalPodAutoscaler":  func() any { return new(autoscalingv2.HorizontalPodAutoscaler) },
	"networking.k8s.io/v1/Ingress":            func() any { return new(networkingv1.Ingress) },
	"networking.k8s.io/v1/NetworkPolicy":      func() any { return new(networkingv1.NetworkPolicy) },
	"monitoring.coreos.com/v1/ServiceMonitor": nil, // a CRD: checked as plain JSON by the test
}

type doc struct {
	Kind   string          `json:"kind"`
	Name   string          `json:"name"`
	Object json.RawMessage `json:"object"`
}

func main() {
	docs, err := decode(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubedecode:", err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(docs); err != nil {
		fmt.Fprintln(os.Stderr, "kubedecode:", err)
		os.Exit(1)
	}
}

func decode(r io.Reader) ([]doc, error) {
	rd := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var out []doc
	for {
		raw, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		js, err := yaml.YAMLToJSONStrict(raw)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", len(out)+1, err)
		}
		if string(js) == "null" {
			continue // an empty document (a template that rendered nothing)
		}
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(js, &meta); err != nil {
			return nil, fmt.Errorf("document %d: %w", len(out)+1, err)
		}
		key := meta.APIVersion + "/" + meta.Kind
		mk, known := typed[key]
		if !known {
			return nil, fmt.Errorf("document %d: unexpected %s", len(out)+1, key)
		}
		if mk != nil {
			if err := yaml.UnmarshalStrict(raw, mk()); err != nil {
				return nil, fmt.Errorf("%s %q: %w", meta.Kind, meta.Metadata.Name, err)
			}
		}
		out = append(out, doc{Kind: meta.Kind, Name: meta.Metadata.Name, Object: js})
	}
}

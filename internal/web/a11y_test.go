package web_test

import (
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/authsvc/authsvc/internal/locale"
)

// TestAccessibility checks, without a browser, what a screen reader and a phone
// need from every page: a language, a title, one heading, a label for every
// field, a name for every button, a viewport, and the code field's hints.
func TestAccessibility(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	for name, r := range htmlResponses(t, e) {
		t.Run(name, func(t *testing.T) {
			doc, err := html.Parse(strings.NewReader(r.body))
			if err != nil {
				t.Fatal(err)
			}
			labels, ids := map[string]bool{}, map[string]bool{}
			for n := range doc.Descendants() {
				if n.Type == html.ElementNode && attr(n, "id") != "" {
					if ids[attr(n, "id")] {
						t.Errorf("id %q repeats", attr(n, "id"))
					}
					ids[attr(n, "id")] = true
				}
			}
			var h1, viewport int
			var title string
			for n := range doc.Descendants() {
				if n.Type != html.ElementNode {
					continue
				}
				switch n.Data {
				case "html":
					if _, ok := locale.Exact(attr(n, "lang")); !ok {
						t.Errorf("<html lang=%q>", attr(n, "lang"))
					}
				case "title":
					title = strings.TrimSpace(textOf(n))
				case "h1":
					h1++
				case "meta":
					if attr(n, "name") == "viewport" && strings.Contains(attr(n, "content"), "width=device-width") {
						viewport++
					}
				case "label":
					labels[attr(n, "for")] = strings.TrimSpace(textOf(n)) != ""
				case "button":
					if strings.TrimSpace(textOf(n)) == "" && attr(n, "aria-label") == "" {
						t.Error("a button has no accessible name")
					}
				case "img":
					if _, ok := attrOK(n, "alt"); !ok {
						t.Error("an image has no alt")
					}
				}
			}
			if title == "" || h1 != 1 || viewport != 1 {
				t.Errorf("title %q, %d h1, %d viewport meta", title, h1, viewport)
			}
			for n := range doc.Descendants() {
				if n.Type != html.ElementNode || (n.Data != "input" && n.Data != "select" && n.Data != "textarea") {
					continue
				}
				if typ := attr(n, "type"); typ == "hidden" || typ == "submit" {
					continue
				}
				for _, ref := range strings.Fields(attr(n, "aria-describedby")) {
					if !ids[ref] {
						t.Errorf("aria-describedby names missing id %q", ref)
					}
				}
				id := attr(n, "id")
				if id == "" || !labels[id] {
					t.Errorf("field %q has no label", attr(n, "name"))
				}
				if attr(n, "name") == "code" {
					for k, want := range map[string]string{"autocomplete": "one-time-code", "inputmode": "numeric", "type": "text"} {
						if got := attr(n, k); got != want {
							t.Errorf("code field %s=%q, want %q", k, got, want)
						}
					}
				}
			}
			if strings.Contains(r.body, "⟦") {
				t.Error("a message is missing from the catalog")
			}
		})
	}
}

func textOf(n *html.Node) string {
	var b strings.Builder
	for c := range n.Descendants() {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	}
	return b.String()
}

func attrOK(n *html.Node, name string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val, true
		}
	}
	return "", false
}

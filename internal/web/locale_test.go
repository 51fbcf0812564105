package web

import "testing"

// TestIsolatedEscapesAndIsolates: Isolated escapes the message and every argument,
// puts each string argument in its own <bdi> and leaves numbers alone.
func TestIsolatedEscapesAndIsolates(t *testing.T) {
	t.Parallel()
	c := &catalog{lang: "en", text: map[string]string{
		"k":     "It's %[1]s & %[2]s, %[3]d left",
		"plain": "<b>x</b>",
	}}
	got := string(c.Isolated("k", "@\u0645\u062d**\u062f", `<script>"x"</script>`, 3))
	want := "It&#39;s <bdi>@\u0645\u062d**\u062f</bdi> &amp; <bdi>&lt;script&gt;&#34;x&#34;&lt;/script&gt;</bdi>, 3 left"
	if got != want {
		t.Errorf("Isolated = %q\n want %q", got, want)
	}
	if got := string(c.Isolated("plain")); got != "&lt;b&gt;x&lt;/b&gt;" {
		t.Errorf("Isolated without arguments = %q", got)
	}
	if got := string(c.Isolated("missing")); got != "⟦missing⟧" {
		t.Errorf("Isolated of a missing key = %q", got)
	}
}

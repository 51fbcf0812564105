package locale

import "testing"

func TestMatch(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"es-MX", "es", true},
		{"pt", "pt-BR", true},
		{"pt-PT", "pt-BR", true},
		{"ar-EG", "ar", true},
		{"ja-JP", "ja", true},
		{"fr-CA", "fr", true},
		{"de-CH", "de", true},
		{"it", "it", true},
		{"", "en", false},
		{"ko", "en", false},
		{"not a tag!", "en", false},
		{"x-" + string(make([]byte, 100)), "en", false},
	} {
		got, ok := Match(tt.in)
		if got.Name != tt.want || ok != tt.ok {
			t.Errorf("Match(%q) = %s, %v; want %s, %v", tt.in, got.Name, ok, tt.want, tt.ok)
		}
	}
	if l, ok := MatchAccept("ko-KR, ar;q=0.8, en;q=0.5"); !ok || l.Name != "ar" || l.Dir() != "rtl" {
		t.Errorf("MatchAccept = %s %v", l.Name, ok)
	}
	if _, ok := MatchAccept(";;;garbage"); ok {
		t.Error("a malformed Accept-Language matched")
	}
	if l, ok := Exact("PT-br"); !ok || l.Name != "pt-BR" {
		t.Errorf("Exact = %s %v", l.Name, ok)
	}
	if _, ok := Exact("pt"); ok {
		t.Error("Exact matched a tag that is not a supported name")
	}
}

func TestPlural(t *testing.T) {
	t.Parallel()
	ar, _ := Exact("ar")
	fr, _ := Exact("fr")
	ja, _ := Exact("ja")
	en, _ := Exact("en")
	for _, tt := range []struct {
		l    Locale
		n    int
		want string
	}{
		{ar, 0, "zero"}, {ar, 1, "one"}, {ar, 2, "two"}, {ar, 5, "few"}, {ar, 11, "many"}, {ar, 100, "other"},
		{fr, 0, "one"}, {fr, 1, "one"}, {fr, 2, "other"},
		{ja, 1, "other"},
		{en, 1, "one"}, {en, 0, "other"},
	} {
		if got := tt.l.Plural(tt.n); got != tt.want {
			t.Errorf("%s.Plural(%d) = %s, want %s", tt.l.Name, tt.n, got, tt.want)
		}
	}
}

package assurance

import "testing"

func TestACRRoundTrip(t *testing.T) {
	t.Parallel()
	for _, l := range []Level{Low, Substantial, High} {
		got, ok := ParseACR(l.ACR())
		if !ok || got != l {
			t.Errorf("ParseACR(%q) = %v, %v; want %v", l.ACR(), got, ok, l)
		}
	}
	if _, ok := ParseACR("urn:authsvc:acr:bogus"); ok {
		t.Error("ParseACR accepted an unknown value")
	}
	if Level(0).ACR() != "" || Level(0).Valid() {
		t.Error("the zero level must not be a level")
	}
}

func TestMeets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		l, min Level
		want   bool
	}{
		{Low, Low, true},
		{Low, Substantial, false},
		{Substantial, Low, true},
		{High, High, true},
		{Substantial, High, false},
		{Level(0), Low, false},
	}
	for _, tt := range tests {
		if got := tt.l.Meets(tt.min); got != tt.want {
			t.Errorf("%v.Meets(%v) = %v, want %v", tt.l, tt.min, got, tt.want)
		}
	}
}

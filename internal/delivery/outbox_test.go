package delivery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestOutboxKeepsNewestFirst(t *testing.T) {
	t.Parallel()
	tests := []struct {
		capacity, sends int
		want            []string
	}{
		{3, 0, []string{}},
		{3, 2, []string{"m1", "m0"}},
		{3, 3, []string{"m2", "m1", "m0"}},
		{3, 5, []string{"m4", "m3", "m2"}},
		{1, 4, []string{"m3"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("cap%d_sends%d", tt.capacity, tt.sends), func(t *testing.T) {
			t.Parallel()
			o := NewOutbox(tt.capacity)
			for i := range tt.sends {
				m := testMessage(SMS, KindCode, "es")
				m.ID = fmt.Sprintf("m%d", i)
				if err := o.Send(t.Context(), m); err != nil {
					t.Fatal(err)
				}
			}
			got := o.List()
			ids := make([]string, len(got))
			for i, e := range got {
				ids[i] = e.ID
			}
			if strings.Join(ids, ",") != strings.Join(tt.want, ",") {
				t.Errorf("List IDs = %v, want %v", ids, tt.want)
			}
			for _, e := range got {
				if e.Channel != SMS || e.To != testPhone || e.Locale != "es" || !strings.Contains(e.Text, testCode) || e.Sent.IsZero() {
					t.Errorf("entry %+v", e)
				}
			}
		})
	}
}

func TestOutboxRejectsInvalidAndCanceled(t *testing.T) {
	t.Parallel()
	o := NewOutbox(0)
	bad := testMessage(Email, KindCode, "en")
	bad.To = "nobody"
	if err := o.Send(t.Context(), bad); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("Send error = %v, want ErrInvalidMessage", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := o.Send(ctx, testMessage(Email, KindCode, "en")); !errors.Is(err, context.Canceled) {
		t.Errorf("Send error = %v, want context.Canceled", err)
	}
	if n := len(o.List()); n != 0 {
		t.Errorf("List has %d entries, want 0", n)
	}
}

func TestOutboxConcurrentUse(t *testing.T) {
	t.Parallel()
	o := NewOutbox(16)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				m := testMessage(Email, KindLink, "en")
				m.ID = fmt.Sprintf("g%d-%d", i, j)
				if err := o.Send(context.Background(), m); err != nil {
					t.Error(err)
				}
				_ = o.List()
			}
		})
	}
	wg.Wait()
	if n := len(o.List()); n != 16 {
		t.Errorf("List has %d entries, want 16", n)
	}
}

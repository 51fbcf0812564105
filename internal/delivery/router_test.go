package delivery

import (
	"errors"
	"testing"
)

func TestRouter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		withSMS   bool
		channel   Channel
		want      error
		wantEmail int
		wantSMS   int
	}{
		{name: "email", withSMS: true, channel: Email, wantEmail: 1},
		{name: "sms", withSMS: true, channel: SMS, wantSMS: 1},
		{name: "sms without sender", channel: SMS, want: ErrNoSender},
		{name: "unknown channel", withSMS: true, channel: 0, want: ErrChannel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			email, sms := NewOutbox(4), NewOutbox(4)
			r := NewRouter(email, nil)
			if tt.withSMS {
				r = NewRouter(email, sms)
			}
			m := testMessage(tt.channel, KindCode, "en")
			if tt.channel == 0 {
				m = testMessage(Email, KindCode, "en")
				m.Channel = 0
			}
			err := r.Send(t.Context(), m)
			if tt.want == nil && err != nil {
				t.Fatalf("Send: %v", err)
			}
			var ce *ChannelError
			if tt.want != nil && (!errors.Is(err, tt.want) || !errors.As(err, &ce) || ce.Channel != m.Channel) {
				t.Fatalf("Send error = %v, want %v", err, tt.want)
			}
			if len(email.List()) != tt.wantEmail || len(sms.List()) != tt.wantSMS {
				t.Errorf("email got %d, sms got %d; want %d, %d", len(email.List()), len(sms.List()), tt.wantEmail, tt.wantSMS)
			}
		})
	}
}

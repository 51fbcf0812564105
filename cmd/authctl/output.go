package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
)

// methodNames maps the CLI spelling of a method to its enum value.
var methodNames = map[string]authsvcv1.Method{
	"magic_link": authsvcv1.Method_METHOD_MAGIC_LINK,
	"otp_sms":    authsvcv1.Method_METHOD_OTP_SMS,
	"otp_email":  authsvcv1.Method_METHOD_OTP_EMAIL,
	"totp":       authsvcv1.Method_METHOD_TOTP,
	"webauthn":   authsvcv1.Method_METHOD_WEBAUTHN,
}

// parseMethod reads a method name as written on the command line
// ("otp_email", case-insensitive; "-" may stand for "_").
func parseMethod(s string) (authsvcv1.Method, error) {
	name := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "_")
	if m, ok := methodNames[name]; ok {
		return m, nil
	}
	return 0, fmt.Errorf("unknown method %q (want otp_email, otp_sms, magic_link, totp or webauthn)", s)
}

// enumName shortens a proto enum value name: METHOD_OTP_EMAIL → otp_email
// (lower) or STATE_PENDING → PENDING.
func enumName(full, prefix string, lower bool) string {
	s := strings.TrimPrefix(full, prefix)
	if lower {
		s = strings.ToLower(s)
	}
	return s
}

func methodName(m authsvcv1.Method) string { return enumName(m.String(), "METHOD_", true) }
func stateName(s authsvcv1.State) string   { return enumName(s.String(), "STATE_", false) }
func levelName(l authsvcv1.AssuranceLevel) string {
	return enumName(l.String(), "ASSURANCE_LEVEL_", true)
}
func deliveryName(d authsvcv1.DeliveryState) string {
	return enumName(d.String(), "DELIVERY_STATE_", false)
}
func reasonName(r authsvcv1.FailureReason) string {
	return enumName(r.String(), "FAILURE_REASON_", false)
}

// isTerminal reports whether s never changes again.
func isTerminal(s authsvcv1.State) bool {
	switch s {
	case authsvcv1.State_STATE_VERIFIED, authsvcv1.State_STATE_FAILED,
		authsvcv1.State_STATE_EXPIRED, authsvcv1.State_STATE_CANCELED:
		return true
	}
	return false
}

// formatTime renders a timestamp in local time, or "-" when unset.
func formatTime(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "-"
	}
	return ts.AsTime().Local().Format(time.DateTime)
}

// printVerification writes a multi-line summary of v.
func printVerification(w io.Writer, v *authsvcv1.Verification) {
	row := func(k, format string, a ...any) {
		fmt.Fprintf(w, "%-14s %s\n", k, fmt.Sprintf(format, a...))
	}
	row("verification", "%s", v.GetVerificationId())
	row("state", "%s", stateLine(v))
	id := v.GetIdentity()
	row("identity", "%s %s %s", id.GetNetwork(), id.GetUserId(), id.GetHandle())
	if c := v.GetCustomerId(); c != "" {
		row("customer", "%s", c)
	}
	methods := make([]string, 0, len(v.GetMethods()))
	for _, m := range v.GetMethods() {
		methods = append(methods, methodName(m))
	}
	row("methods", "%s", strings.Join(methods, ", "))
	row("audience", "%s", v.GetAudience())
	if len(v.GetScopes()) > 0 {
		row("scopes", "%s", strings.Join(v.GetScopes(), " "))
	}
	row("agent", "%s", v.GetAgentId())
	row("conversation", "%s", v.GetConversationId())
	if v.GetDestinationMask() != "" {
		row("sent to", "%s via %s (%s)", v.GetDestinationMask(), methodName(v.GetDeliveredMethod()), deliveryName(v.GetDeliveryState()))
	}
	row("created", "%s", formatTime(v.GetCreateTime()))
	row("expires", "%s", formatTime(v.GetExpireTime()))
	if a := v.GetAssertion(); a != nil {
		row("assertion", "%s, expires %s", a.GetAssertionId(), formatTime(a.GetExpireTime()))
	}
}

// stateLine is the one-line state of v shown by watch.
func stateLine(v *authsvcv1.Verification) string {
	s := stateName(v.GetState())
	switch v.GetState() {
	case authsvcv1.State_STATE_PENDING:
		parts := []string{s}
		if d := v.GetDeliveryState(); d != authsvcv1.DeliveryState_DELIVERY_STATE_UNSPECIFIED {
			parts = append(parts, "delivery "+deliveryName(d))
		}
		parts = append(parts, fmt.Sprintf("%d attempts left", v.GetAttemptsLeft()))
		return strings.Join(parts, ", ")
	case authsvcv1.State_STATE_VERIFIED:
		line := fmt.Sprintf("%s via %s (assurance %s) at %s", s,
			methodName(v.GetVerifiedMethod()), levelName(v.GetAssuranceLevel()), formatTime(v.GetVerifyTime()))
		if v.GetRevoked() {
			line += ", REVOKED"
		}
		return line
	case authsvcv1.State_STATE_FAILED:
		return fmt.Sprintf("%s (%s)", s, reasonName(v.GetFailureReason()))
	default:
		return s
	}
}

// decodeClaims returns the payload of a compact JWS as indented JSON. It does
// not verify the signature: it shows what the token says.
func decodeClaims(token string) ([]byte, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a compact JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, payload, "", "  "); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	return out.Bytes(), nil
}

// protoJSON marshals m with the proto field names, for embedding in a JSON
// event (encoding/json compacts it onto one line).
func protoJSON(m proto.Message) json.RawMessage {
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		// Marshal of a generated message cannot fail short of invalid UTF-8;
		// keep the event well-formed rather than abort the watch.
		return json.RawMessage(`null`)
	}
	return b
}

// event is one line of --json output.
type event struct {
	Event        string          `json:"event"`
	Verification json.RawMessage `json:"verification,omitempty"`
	CustomerURL  string          `json:"customer_url,omitempty"`
	MatchNumber  string          `json:"match_number,omitempty"`
	DMText       string          `json:"dm_text,omitempty"`
	Claims       json.RawMessage `json:"claims,omitempty"`
	Data         json.RawMessage `json:"data,omitempty"`
	Error        string          `json:"error,omitempty"`
}

// writeEvent writes ev as one line of JSON.
func writeEvent(w io.Writer, ev event) {
	b, err := json.Marshal(ev)
	if err != nil {
		fmt.Fprintf(w, "{\"event\":\"error\",\"error\":%q}\n", err.Error())
		return
	}
	_, _ = w.Write(append(b, '\n'))
}

// printPrettyJSON writes data indented, or as is when it is not JSON.
func printPrettyJSON(w io.Writer, data []byte) {
	var out bytes.Buffer
	if err := json.Indent(&out, data, "", "  "); err != nil {
		_, _ = w.Write(data)
		fmt.Fprintln(w)
		return
	}
	out.WriteByte('\n')
	_, _ = w.Write(out.Bytes())
}

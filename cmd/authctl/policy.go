package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/policy"
)

// sheetRow is one data class of the agents' cheat sheet, in plain words.
type sheetRow struct {
	class, what, proof, within, where string
}

// cmdPolicy runs "authctl policy [--file PATH]": the disclosure policy as the
// agents' cheat sheet, from the service or from a policy file (which is checked
// the way the service checks it at start-up).
func cmdPolicy(ctx context.Context, g *globals, args []string, e env) int {
	var file string
	fs := newFlagSet("policy")
	g.register(fs)
	fs.StringVar(&file, "file", "", "")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return usageError(e, fmt.Errorf("policy: %w", err))
	}
	if err := requireArgs("policy", pos, 0, ""); err != nil {
		return usageError(e, err)
	}
	var rows []sheetRow
	source := "the service at " + g.addr
	if file != "" {
		p, err := policy.LoadFile(file)
		if err != nil {
			// A ParseError names every line to fix.
			fmt.Fprintf(e.stderr, "authctl: %v\n", err)
			return exitUsage
		}
		rows = rowsFromPolicy(p.Rules())
		source = file
	} else {
		conn, err := g.dial()
		if err != nil {
			return usageError(e, err)
		}
		defer conn.Close()
		cctx, cancel := g.unary(ctx)
		defer cancel()
		resp, err := authsvcv1.NewAssertionServiceClient(conn).GetDisclosurePolicy(cctx, &authsvcv1.GetDisclosurePolicyRequest{})
		if err != nil {
			return rpcFailure(e.stderr, "get disclosure policy", err)
		}
		rows = rowsFromProto(resp.GetRules())
	}
	printCheatSheet(e.stdout, source, rows)
	return exitOK
}

func rowsFromPolicy(rules []policy.Rule) []sheetRow {
	out := make([]sheetRow, 0, len(rules))
	for _, r := range rules {
		where := make([]string, 0, len(r.Channels))
		for _, c := range r.Channels {
			where = append(where, channelWords(c))
		}
		out = append(out, sheetRow{
			class: r.DataClass, what: r.Description, proof: proofWords(r.MinLevel),
			within: plainDuration(r.MaxAge), where: strings.Join(where, ", "),
		})
	}
	return out
}

func rowsFromProto(rules []*authsvcv1.DisclosureRule) []sheetRow {
	out := make([]sheetRow, 0, len(rules))
	for _, r := range rules {
		where := make([]string, 0, len(r.GetChannels()))
		for _, c := range r.GetChannels() {
			where = append(where, channelWords(channelFromProto(c)))
		}
		out = append(out, sheetRow{
			class: printable(r.GetDataClass()), what: printable(r.GetDescription()),
			proof: proofWords(levelFromProto(r.GetMinLevel())), within: plainDuration(r.GetMaxAge().AsDuration()),
			where: strings.Join(where, ", "),
		})
	}
	return out
}

func levelFromProto(l authsvcv1.AssuranceLevel) assurance.Level {
	switch l {
	case authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_LOW:
		return assurance.Low
	case authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_SUBSTANTIAL:
		return assurance.Substantial
	case authsvcv1.AssuranceLevel_ASSURANCE_LEVEL_HIGH:
		return assurance.High
	}
	return 0
}

func channelFromProto(c authsvcv1.DisclosureChannel) policy.Channel {
	switch c {
	case authsvcv1.DisclosureChannel_DISCLOSURE_CHANNEL_PUBLIC_REPLY:
		return policy.PublicReply
	case authsvcv1.DisclosureChannel_DISCLOSURE_CHANNEL_DM:
		return policy.DM
	case authsvcv1.DisclosureChannel_DISCLOSURE_CHANNEL_SECURE_CHANNEL:
		return policy.SecureChannel
	case authsvcv1.DisclosureChannel_DISCLOSURE_CHANNEL_PHONE:
		return policy.Phone
	}
	return 0
}

// proofWords says what the customer must have done, in an agent's words.
func proofWords(l assurance.Level) string {
	switch l {
	case assurance.Low:
		return "code or link sent to email/phone"
	case assurance.Substantial:
		return "authenticator app or passkey"
	case assurance.High:
		return "passkey with fingerprint/face/PIN"
	}
	return "unknown: do not share"
}

func channelWords(c policy.Channel) string {
	switch c {
	case policy.PublicReply:
		return "public reply"
	case policy.DM:
		return "DM"
	case policy.SecureChannel:
		return "secure channel"
	case policy.Phone:
		return "phone"
	}
	return "unknown channel"
}

// plainDuration writes d as "30 min", "1 h 30 min" or "45 s".
func plainDuration(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	var parts []string
	if h := d / time.Hour; h > 0 {
		parts = append(parts, fmt.Sprintf("%d h", h))
	}
	if m := d % time.Hour / time.Minute; m > 0 {
		parts = append(parts, fmt.Sprintf("%d min", m))
	}
	if s := d % time.Minute / time.Second; s > 0 {
		parts = append(parts, fmt.Sprintf("%d s", s))
	}
	if len(parts) == 0 {
		return "under 1 s"
	}
	return strings.Join(parts, " ")
}

// printable drops control characters from text a server sent, so that it
// cannot move the terminal's cursor or break the table.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}

// printCheatSheet writes rows as the agents' table.
func printCheatSheet(w io.Writer, source string, rows []sheetRow) {
	fmt.Fprintf(w, "What you may share, where, and on what proof (disclosure policy from %s)\n\n", printable(source))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DATA\tWHAT IT IS\tMINIMUM PROOF\tPROVED WITHIN\tMAY BE SHARED IN")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.class, r.what, r.proof, r.within, r.where)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Never share account data in a public reply.")
	fmt.Fprintln(w, "Not listed, weaker proof, or proved too long ago: do not share; ask for a new verification.")
}

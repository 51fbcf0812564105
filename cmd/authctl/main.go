// Command authctl is the command-line client of authsvc for care agents and
// operators: it starts and watches verifications, fetches the JWKS, checks
// assertions and prints the disclosure policy as the agents' cheat sheet over the
// authsvc.v1 gRPC API.
//
// Exit codes: 0 success (VERIFIED for verify and watch), 1 the verification
// ended FAILED, EXPIRED or CANCELED (or was revoked), an assertion was
// refused, or a redeemed phone handover carries no assurance, 2 usage error, 3 RPC
// or transport error.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Exit codes.
const (
	exitOK      = 0
	exitDenied  = 1
	exitUsage   = 2
	exitFailure = 3
)

const usageText = `authctl: client for the authsvc verification service.

Usage:
  authctl [global flags] <command> [flags] [args]

Commands:
  verify              start a verification and watch it until it ends
  watch ID            watch a verification until it ends
  get ID              show a verification (--json: the raw answer, with the assertion)
  cancel ID           cancel a pending verification, or revoke a verified one
  resend ID           send a new code or link (--email or --phone: the destination used at the start)
  enroll              create a one-time enrollment link (authenticator app or passkey) to post
                      in the DM (--customer-id, --method totp|webauthn, --verification ID of a
                      recent VERIFIED verification of that customer, --locale; after a code or
                      link, --email or --phone: the contact it went to, which is told of a
                      customer's first factor). The link works only in the browser that
                      completed the verification.
  factors list|remove list a customer's enrolled factors, or remove one (--customer-id; remove
                      takes the FACTOR_ID)
  handover create|show|redeem
                      create --verification ID (--channel CH | --phone) [--case REF]
                      [--request-id ID]: offer the customer a handover on her page (a brand
                      channel of the channels file, or the phone line); show HANDOVER_ID;
                      redeem CODE --verifier V (as a brand channel's client) or
                      redeem --call-code "123 456 7890" [--caller-ref REF] (as the phone
                      system's client; REF an opaque per-caller id, so that wrong codes
                      lock out only that caller): prints the context and the assertion
                      once; exit 1 when the customer never verified digitally (phone: case
                      context only)
  jwks                print the JWKS that verifies assertions
  assertion verify TOKEN|-   check an assertion with the service (--audience required; - reads stdin)
  policy              print the disclosure policy as the agents' cheat sheet: what may be shared
                      where, on what proof (--file PATH: check and print a policy file instead)
  keys generate       write a new signing key NAME.pem (0600) and its metadata NAME.json into
                      the signing-keys directory; prints the kid and the JWKS entry
                      (no server involved; see docs/operations.md, "Signing keys")
  events tail         receive authsvc's events locally: listen, check each delivery's signature,
                      print the event (dev mode sends the dev client's events here)

Global flags (accepted before or after the command):
  --addr HOST:PORT     gRPC address (env AUTHSVC_ADDR; default 127.0.0.1:7443, the dev-mode server)
  --api-key-file PATH  file holding the API key (else env AUTHSVC_API_KEY; on a loopback
                       address the dev-mode key "dev-insecure-key" is used when neither is set)
  --tls                use TLS (required for any non-loopback address)
  --ca-file PATH       PEM CA bundle to verify the server (implies --tls; default system roots)
  --timeout DURATION   deadline of each unary call (default 10s; a watch runs until the end)

verify flags:
  --network NAME       social network: x, messenger, instagram, whatsapp, ... (required)
  --user-id ID         the network's stable user id (required)
  --handle @NAME       the display handle (required: messages name it, masked)
  --email ADDR | --phone +E164   the contact point on file (one of them; needed by the methods)
  --method M           otp_email, otp_sms, magic_link, totp or webauthn; repeat or comma-separate,
                       in order of preference (required)
  --min-assurance L    low, substantial or high (default: the service's, low)
  --audience AUD       the tool or tool group that relies on the assertion (required)
  --scope S            scope granted by the assertion; repeat or comma-separate
  --agent ID           the agent asking (required)
  --conversation ID    the conversation the verification is for (required)
  --customer-id ID     the brand's customer id, the assertion's subject
  --locale TAG         BCP 47 language of the DM text and pages (default en)
  --ttl DURATION       how long the customer has, 1m to 60m (default 10m)
  --request-id ID      idempotency key (default random)
  --no-watch           print the verification and exit without watching
  --json               print one JSON object per event instead of text

keys generate flags:
  --dir DIR            the directory to write into (required); existing files are never replaced
  --alg A              EdDSA (default) or ES256
  --not-before WHEN    when the key may start signing: RFC 3339, now, or +DURATION (default +24h)
  --retire-at WHEN     when it stops signing (optional; same forms)
  --name NAME          file name without .pem (default: the not-before time, 20060102-150405)

events tail flags:
  --listen HOST:PORT   where to listen (default 127.0.0.1:9797, dev mode's AUTHSVC_DEV_EVENTS_URL)
  --path PATH          the URL path events are POSTed to (default /events)
  --secret-file PATH   the endpoint's secret ("whsec_…"); default: dev mode's public secret, loopback only
  --json               print each event as received (one CloudEvent JSON per line)
  --count N            exit after N distinct events

Exit codes: 0 success / VERIFIED, 1 FAILED, EXPIRED, CANCELED, revoked or assertion refused,
            2 usage error, 3 RPC or transport error.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// env is what a command reads from the outside world, injected so tests can
// replace it.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

// run executes authctl with args (without the program name) and returns the
// process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runEnv(ctx, args, env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv})
}

func runEnv(ctx context.Context, args []string, e env) int {
	g := newGlobals(e.getenv)
	fs := newFlagSet("authctl")
	g.register(fs)
	if err := fs.Parse(args); err != nil {
		return usageError(e, err)
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return usageError(e, errors.New("no command given"))
	}
	cmd, rest := rest[0], rest[1:]
	switch cmd {
	case "verify":
		return cmdVerify(ctx, g, rest, e)
	case "watch":
		return cmdWatch(ctx, g, rest, e)
	case "get":
		return cmdGet(ctx, g, rest, e)
	case "cancel":
		return cmdCancel(ctx, g, rest, e)
	case "resend":
		return cmdResend(ctx, g, rest, e)
	case "jwks":
		return cmdJwks(ctx, g, rest, e)
	case "assertion":
		return cmdAssertion(ctx, g, rest, e)
	case "policy":
		return cmdPolicy(ctx, g, rest, e)
	case "enroll":
		return cmdEnroll(ctx, g, rest, e)
	case "factors":
		return cmdFactors(ctx, g, rest, e)
	case "handover":
		return cmdHandover(ctx, g, rest, e)
	case "keys":
		return cmdKeys(rest, e, time.Now)
	case "events":
		return cmdEvents(ctx, rest, e)
	case "help":
		fmt.Fprint(e.stdout, usageText)
		return exitOK
	default:
		return usageError(e, fmt.Errorf("unknown command %q", cmd))
	}
}

// usageError reports err with a pointer to the help and returns exitUsage.
// flag.ErrHelp prints the full usage and is not an error.
func usageError(e env, err error) int {
	if errors.Is(err, errHelp) {
		fmt.Fprint(e.stdout, usageText)
		return exitOK
	}
	fmt.Fprintf(e.stderr, "authctl: %v\nRun 'authctl help' for usage.\n", err)
	return exitUsage
}

package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/go-webauthn/webauthn/webauthn"
)

// rpIDPattern is a lower-case DNS name: dot-separated labels of letters, digits
// and inner hyphens, 1 to 63 bytes each.
var rpIDPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)

// validRPID reports whether id can be a WebAuthn relying party id: a domain
// name, never an IP address.
func validRPID(id string) bool {
	return len(id) <= 253 && net.ParseIP(id) == nil && rpIDPattern.MatchString(id)
}

// rpID reads the relying party id: a domain name, kept in lower case.
func rpID(p *string) value {
	return valueFunc(func(r *envReader, name, raw string) {
		id := strings.ToLower(raw)
		if !validRPID(id) {
			r.refuse(name, "want a domain name such as acme.example, without scheme, port or path and not an IP address, got %q", id)
			return
		}
		*p = id
	})
}

// origins reads the origins passkey ceremonies may come from, comma-separated;
// http is allowed in dev mode.
func origins(c *Config) value {
	return valueFunc(func(r *envReader, name, raw string) {
		w := &c.WebAuthn
		for _, o := range strings.Split(raw, ",") {
			origin, problem := parseOrigin(strings.TrimSpace(o), c.Dev.Enabled)
			switch {
			case problem != "":
				r.refuse(name, "%s", problem)
			case slices.Contains(w.Origins, origin):
				r.refuse(name, "%s is listed twice", origin)
			default:
				w.Origins = append(w.Origins, origin)
			}
		}
	})
}

// checkWebAuthn checks, outside dev mode (where the public URL is always
// known), that the passkey settings fit the public URL.
func checkWebAuthn(r *envReader, c *Config) {
	if c.Service.PublicURL != nil && !c.Dev.Enabled {
		_, _, problems := webAuthnSettings(c.WebAuthn, c.Service.PublicURL)
		for _, p := range problems {
			r.addf("%s", p)
		}
	}
}

// parseOrigin checks one origin, scheme://host[:port] with nothing else, and
// returns it in lower case. http is allowed only in dev mode or for a loopback host.
func parseOrigin(raw string, dev bool) (string, string) {
	u, err := url.Parse(raw)
	if raw == "" || err != nil || u.Host == "" || u.Opaque != "" {
		return "", fmt.Sprintf("want origins such as https://verify.acme.example, separated by commas, got %q", raw)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", fmt.Sprintf("%q is not an origin: want scheme://host[:port] without user info, path, query or fragment", raw)
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme == "https":
	case scheme == "http" && (dev || isLoopback(u.Hostname())):
	default:
		return "", fmt.Sprintf("%q: passkeys need https (http only in dev mode or on a loopback host)", raw)
	}
	return scheme + "://" + strings.ToLower(u.Host), ""
}

// webAuthnSettings returns the relying party id and origins in effect for the
// public URL: the configured ones, or the public URL's host and origin. problems
// say, naming the variables, why they cannot work: an RP id that is not the
// public URL's host or a parent of it, an origin outside the RP id, or origins
// that leave out the public URL's own (where the pages run their ceremonies).
func webAuthnSettings(w WebAuthnConfig, publicURL *url.URL) (rpID string, origins []string, problems []string) {
	host := strings.ToLower(publicURL.Hostname())
	public := strings.ToLower(publicURL.Scheme) + "://" + strings.ToLower(publicURL.Host)
	rpID = w.RPID
	if rpID == "" {
		rpID = host
		if !validRPID(host) {
			problems = append(problems, fmt.Sprintf("AUTHSVC_PUBLIC_URL: passkeys need a domain name, not %q: use the pages' domain name", host))
		}
	}
	within := func(h string) bool { return h == rpID || strings.HasSuffix(h, "."+rpID) }
	if !within(host) {
		problems = append(problems, fmt.Sprintf("AUTHSVC_WEBAUTHN_RP_ID: %s is neither the host of AUTHSVC_PUBLIC_URL (%s) nor a parent domain of it", rpID, host))
	}
	origins = w.Origins
	if len(origins) == 0 {
		origins = []string{public}
	} else if !slices.Contains(origins, public) {
		problems = append(problems, fmt.Sprintf("AUTHSVC_WEBAUTHN_ORIGINS: must include %s, the origin of AUTHSVC_PUBLIC_URL, where the customer pages run passkey ceremonies", public))
	}
	for _, o := range origins {
		if u, err := url.Parse(o); err == nil && !within(u.Hostname()) {
			problems = append(problems, fmt.Sprintf("AUTHSVC_WEBAUTHN_ORIGINS: %s is not on %s or a subdomain of it (AUTHSVC_WEBAUTHN_RP_ID)", o, rpID))
		}
	}
	return rpID, origins, problems
}

// newWebAuthn builds the passkey relying party for the public URL in effect.
// Outside dev mode loadConfig has already refused settings that do not fit it;
// in dev mode (whose public URL may only be known now) a misfit is logged and
// passkeys are left to fail, so that the other methods still run. The server
// enforces the ceremony timeout for registrations and logins alike.
func newWebAuthn(cfg *Config, publicURL *url.URL, log *slog.Logger) (*webauthn.WebAuthn, error) {
	rpID, origins, problems := webAuthnSettings(cfg.WebAuthn, publicURL)
	if len(problems) > 0 {
		if !cfg.Dev.Enabled {
			return nil, &ConfigError{Problems: problems}
		}
		log.Warn("passkeys will not work with this dev configuration", "problems", problems)
		if !validRPID(rpID) {
			rpID = "localhost"
		}
	}
	t := webauthn.TimeoutConfig{Enforce: true, Timeout: cfg.WebAuthn.CeremonyTimeout, TimeoutUVD: cfg.WebAuthn.CeremonyTimeout}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          rpID,
		RPDisplayName: cfg.Service.Brand,
		RPOrigins:     origins,
		Timeouts:      webauthn.TimeoutsConfig{Login: t, Registration: t},
	})
	if err != nil {
		return nil, fmt.Errorf("AUTHSVC_WEBAUTHN_*: %w", err)
	}
	return wa, nil
}

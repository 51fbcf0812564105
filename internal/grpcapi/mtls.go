package grpcapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Client certificates (mutual TLS).
//
// When Config.TLS verifies client certificates (ClientCAs with
// tls.VerifyClientCertIfGiven or tls.RequireAndVerifyClientCert), a call on a
// connection whose certificate the TLS layer verified is a call of the client
// whose clients-file cert equals one of the certificate's subject alternative
// names. Only a verified chain counts: a certificate the TLS layer merely
// received (tls.RequestClientCert, tls.RequireAnyClientCert) is ignored, as is
// any certificate on a plaintext connection. Nothing of a certificate but the id
// of the client it names ever reaches a log or an answer.

// certKind is the kind of subject alternative name a client is named by.
type certKind uint8

const (
	certURI certKind = iota + 1
	certDNS
)

// certName is one subject alternative name: a URI as url.URL.String prints it,
// or a lower-case DNS name. The zero value names nothing.
type certName struct {
	kind  certKind
	value string
}

// certFileIdentity is the "cert" object of a clients file entry: exactly one of
// its fields.
type certFileIdentity struct {
	URISAN string `json:"uri_san"`
	DNSSAN string `json:"dns_san"`
}

// Bounds of a cert name in the clients file.
const (
	maxURISAN = 2048
	maxDNSSAN = 253
)

// dnsNamePattern is a lower-case DNS name without a wildcard or a trailing dot.
var dnsNamePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)

// parse checks the cert object. Errors name the field, never its value.
func (c certFileIdentity) parse() (certName, error) {
	switch {
	case c.URISAN != "" && c.DNSSAN != "":
		return certName{}, errors.New("name one of uri_san and dns_san, not both")
	case c.URISAN != "":
		u, err := url.Parse(c.URISAN)
		switch {
		case len(c.URISAN) > maxURISAN:
			return certName{}, fmt.Errorf("uri_san: at most %d bytes", maxURISAN)
		case err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == ""):
			return certName{}, errors.New("uri_san: want an absolute URI such as spiffe://brand.example/platform-a")
		case u.String() != c.URISAN:
			// Certificates are compared by the URI Go parses out of them, printed
			// back; a value that does not print back the same would never match.
			return certName{}, errors.New("uri_san: write the URI in canonical form (lower-case scheme, escapes as Go's url package prints them)")
		}
		return certName{kind: certURI, value: c.URISAN}, nil
	case c.DNSSAN != "":
		if len(c.DNSSAN) > maxDNSSAN || !dnsNamePattern.MatchString(c.DNSSAN) {
			return certName{}, errors.New("dns_san: want a lower-case DNS name such as platform-a.clients.brand.example, without a wildcard or trailing dot")
		}
		return certName{kind: certDNS, value: c.DNSSAN}, nil
	}
	return certName{}, errors.New("name one of uri_san and dns_san")
}

// certNames returns the subject alternative names of leaf a clients file can
// name: its URIs and its DNS names, lower-cased. The subject is never used.
func certNames(leaf *x509.Certificate) []certName {
	out := make([]certName, 0, len(leaf.URIs)+len(leaf.DNSNames))
	for _, u := range leaf.URIs {
		out = append(out, certName{kind: certURI, value: u.String()})
	}
	for _, d := range leaf.DNSNames {
		out = append(out, certName{kind: certDNS, value: strings.ToLower(d)})
	}
	return out
}

// verifiedLeaf returns the client certificate of the call's connection when the
// TLS layer verified it against the client CAs, and nil otherwise.
func verifiedLeaf(ctx context.Context) *x509.Certificate {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return nil
	}
	return info.State.VerifiedChains[0][0]
}

// lookupCert returns the client a verified certificate names. A certificate
// that names no client, or names several, is refused with CERTIFICATE_UNKNOWN,
// even when the call also carries a valid API key.
func (s *clientSet) lookupCert(leaf *x509.Certificate) (Client, error) {
	found := -1
	for _, n := range certNames(leaf) {
		i, ok := s.byCert[n]
		if !ok || i == found {
			continue
		}
		if found >= 0 {
			return Client{}, errCertificate(fmt.Errorf("the client certificate names clients %s and %s",
				s.entries[found].client.ID, s.entries[i].client.ID))
		}
		found = i
	}
	if found < 0 {
		return Client{}, errCertificate(nil)
	}
	return s.entries[found].client, nil
}

// errCertificate is the answer to a verified client certificate that names no
// single client. cause, when not nil, is for the log: it names client ids,
// never what the certificate holds.
func errCertificate(cause error) error {
	st, _ := status.New(codes.Unauthenticated, "the client certificate names no client").WithDetails(
		&errdetails.ErrorInfo{Reason: ReasonCertificateUnknown, Domain: errorDomain})
	if cause == nil {
		return st.Err()
	}
	return &causeError{st: st, cause: cause}
}

// serverCreds is the server option that serves TLS with cfg; none (plaintext)
// when cfg is nil.
func serverCreds(cfg *tls.Config) grpc.ServerOption {
	if cfg == nil {
		return grpc.EmptyServerOption{}
	}
	return grpc.Creds(credentials.NewTLS(cfg))
}

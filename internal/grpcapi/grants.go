package grpcapi

import (
	"fmt"
	"sort"
	"strings"

	"google.golang.org/grpc"

	authsvcv1 "github.com/authsvc/authsvc/api/gen/authsvc/v1"
)

// AnyValue, as the only element of Grants.RPCs, Audiences, Scopes or DataClasses,
// stands for every value of that list. It is meant for dev mode and tests: a
// production client names what it may use.
const AnyValue = "*"

// Grants is what one client may do once authenticated: the RPCs it may call and
// the audiences, scopes and data classes it may name in them. It is the part of a
// clients file entry besides id, api_key_sha256 and cert, with the same JSON
// names.
//
// Each list holds exact strings, or the single element AnyValue for every value.
// A missing list means:
//   - RPCs: every RPC of VerificationService and AssertionService, none of
//     EnrollmentService, AuditService or HandoverService (a client file written
//     before they existed grants none of them); AnyValue covers every service.
//     A platform that hands customers over names CreateHandover and
//     GetHandover; a brand channel RedeemHandover, an IVR RedeemCallCode (each
//     redeems only the handovers the channels file names it for);
//   - Audiences: nothing; the list is required and may not be empty, so no client
//     silently names every audience;
//   - Scopes: no scope; a StartVerification naming any scope is refused;
//   - DataClasses: every data class of the disclosure policy.
//
// MayLink lets LinkIdentity go without a verification, MayEnroll lets
// CreateEnrollmentLink go without one and allows RemoveFactor at all. Without
// them, LinkIdentity and CreateEnrollmentLink need a verification_id of a recent
// VERIFIED verification by the same client. MayErase allows EraseCustomer at all.
// MayAuditAll lets ListAuditEvents show every client's events, not only the
// caller's own.
type Grants struct {
	// RPCs are short method names ("StartVerification", "VerifyAssertion", …).
	RPCs []string `json:"rpcs"`
	// Audiences are the StartVerification, VerifyAssertion and
	// AuthorizeDisclosure audiences the client may name.
	Audiences []string `json:"audiences"`
	// Scopes are the StartVerification scopes the client may name.
	Scopes []string `json:"scopes"`
	// DataClasses are the AuthorizeDisclosure data classes the client may ask about.
	DataClasses []string `json:"data_classes"`
	// MayLink allows LinkIdentity without a verification.
	MayLink bool `json:"may_link"`
	// MayEnroll allows CreateEnrollmentLink without a verification, and
	// RemoveFactor.
	MayEnroll bool `json:"may_enroll"`
	// MayErase allows EraseCustomer.
	MayErase bool `json:"may_erase"`
	// MayAuditAll lets ListAuditEvents return the events of every client;
	// without it, a client sees only the events whose client is itself.
	MayAuditAll bool `json:"may_audit_all"`
	// TrustEnrollmentsFrom names the other clients whose enrollments this
	// client's verifications may use: a factor enrolled through client B
	// completes a verification of client A only when A lists B here (or AnyValue).
	// A client always uses the factors enrolled through itself. Missing or empty:
	// its own only, so a less trusted client can never mint assurance for it.
	TrustEnrollmentsFrom []string `json:"trust_enrollments_from"`
}

// allGrants lets a client call every RPC and name any audience, scope and data
// class: NewClients gives it to every client, for tests and benchmarks.
func allGrants() Grants {
	return Grants{RPCs: []string{AnyValue}, Audiences: []string{AnyValue}, Scopes: []string{AnyValue}}
}

// allowList is a compiled list of Grants: every value, or exactly the set named.
type allowList struct {
	any bool
	set map[string]bool
}

func (a allowList) allows(s string) bool { return a.any || a.set[s] }

// permissions are a client's Grants, compiled. Immutable once built.
type permissions struct {
	rpcs        allowList // full method names
	audiences   allowList
	scopes      allowList
	dataClasses allowList
	// mayLink, mayEnroll and mayErase are Grants.MayLink, Grants.MayEnroll and
	// Grants.MayErase.
	mayLink, mayEnroll, mayErase bool
	// mayAuditAll is Grants.MayAuditAll.
	mayAuditAll bool
	// trust is Grants.TrustEnrollmentsFrom: the clients whose enrollments this
	// one's verifications may use, besides its own.
	trust allowList
}

// defaultServices are the services whose RPCs a client without an rpcs list may
// call; the others' must be named.
var defaultServices = []*grpc.ServiceDesc{&authsvcv1.VerificationService_ServiceDesc, &authsvcv1.AssertionService_ServiceDesc}

// grantedServices are every authsvc.v1 service a grant can name an RPC of.
var grantedServices = append(append([]*grpc.ServiceDesc(nil), defaultServices...),
	&authsvcv1.EnrollmentService_ServiceDesc, &authsvcv1.AuditService_ServiceDesc, &authsvcv1.HandoverService_ServiceDesc)

// fullNames maps the short name of every RPC of services to its full method name.
func fullNames(services []*grpc.ServiceDesc) map[string]string {
	out := map[string]string{}
	for _, sd := range services {
		for _, m := range sd.Methods {
			out[m.MethodName] = "/" + sd.ServiceName + "/" + m.MethodName
		}
		for _, st := range sd.Streams {
			out[st.StreamName] = "/" + sd.ServiceName + "/" + st.StreamName
		}
	}
	return out
}

// rpcNames maps the short name of every RPC of the authsvc.v1 services to its
// full method name. Short names are unique across the services (a test holds
// them to it).
var rpcNames = fullNames(grantedServices)

// defaultRPCs is the set of full method names a missing rpcs list allows.
var defaultRPCs = func() map[string]bool {
	out := map[string]bool{}
	for _, fm := range fullNames(defaultServices) {
		out[fm] = true
	}
	return out
}()

// rpcList is the short names in rpcNames, sorted, for load errors.
var rpcList = func() string {
	names := make([]string, 0, len(rpcNames))
	for n := range rpcNames {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}()

// shortName returns the method part of a full method name.
func shortName(fullMethod string) string {
	return fullMethod[strings.LastIndexByte(fullMethod, '/')+1:]
}

// compile checks g and compiles it. Errors name the field and element index; they
// never quote a value, so a key pasted into the wrong field does not reach a log.
func (g Grants) compile() (*permissions, error) {
	p := permissions{mayLink: g.MayLink, mayEnroll: g.MayEnroll, mayErase: g.MayErase, mayAuditAll: g.MayAuditAll}
	var err error
	if g.RPCs == nil {
		p.rpcs.set = defaultRPCs
	} else {
		if p.rpcs, err = compileList("rpcs", g.RPCs, maxMethodName); err != nil {
			return nil, err
		}
		if !p.rpcs.any {
			full := make(map[string]bool, len(p.rpcs.set))
			for i, name := range g.RPCs {
				fm, ok := rpcNames[name]
				if !ok {
					return nil, fmt.Errorf("rpcs[%d]: not an RPC of authsvc.v1 (one of %s, or %q alone)", i, rpcList, AnyValue)
				}
				full[fm] = true
			}
			p.rpcs.set = full
		}
	}
	if len(g.Audiences) == 0 {
		return nil, fmt.Errorf("audiences is required: list the audiences the client may name (%q alone allows any)", AnyValue)
	}
	if p.audiences, err = compileList("audiences", g.Audiences, maxAudience); err != nil {
		return nil, err
	}
	if len(g.Scopes) > 0 {
		if p.scopes, err = compileList("scopes", g.Scopes, maxScope); err != nil {
			return nil, err
		}
	}
	if g.DataClasses == nil {
		p.dataClasses.any = true
	} else if p.dataClasses, err = compileList("data_classes", g.DataClasses, maxDataClass); err != nil {
		return nil, err
	}
	if len(g.TrustEnrollmentsFrom) > 0 {
		if p.trust, err = compileList("trust_enrollments_from", g.TrustEnrollmentsFrom, 64); err != nil {
			return nil, err
		}
		for i, id := range g.TrustEnrollmentsFrom {
			if id != AnyValue && !clientIDPattern.MatchString(id) {
				return nil, fmt.Errorf("trust_enrollments_from[%d]: must be a client id ([a-z0-9_-]{1,64})", i)
			}
		}
	}
	return &p, nil
}

// maxMethodName bounds an element of rpcs; every real name is far shorter.
const maxMethodName = 64

// compileList checks one list of Grants: not empty, elements not empty, at most
// maxLen bytes, unique, and AnyValue only as the whole list.
func compileList(field string, vals []string, maxLen int) (allowList, error) {
	if len(vals) == 0 {
		return allowList{}, fmt.Errorf("%s: name at least one, or leave the field out", field)
	}
	if len(vals) == 1 && vals[0] == AnyValue {
		return allowList{any: true}, nil
	}
	set := make(map[string]bool, len(vals))
	for i, v := range vals {
		switch {
		case v == "":
			return allowList{}, fmt.Errorf("%s[%d]: must not be empty", field, i)
		case len(v) > maxLen:
			return allowList{}, fmt.Errorf("%s[%d]: must be at most %d bytes", field, i, maxLen)
		case strings.Contains(v, AnyValue):
			return allowList{}, fmt.Errorf("%s[%d]: %q is allowed only as the whole list, never with other values or inside one", field, i, AnyValue)
		case set[v]:
			return allowList{}, fmt.Errorf("%s[%d]: repeats an earlier element", field, i)
		}
		set[v] = true
	}
	return allowList{set: set}, nil
}

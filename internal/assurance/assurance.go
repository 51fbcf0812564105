// Package assurance names how strongly a verification proves that the person in a
// conversation owns the account: the levels of DESIGN.md "Assurance", their `acr`
// values, and the RFC 8176 `amr` values the methods produce.
//
// It is the vocabulary shared by the challenge lifecycle (which decides the level a
// completed method earns) and the assertion package (which writes it into a token).
// It imports nothing of the service and holds no state.
package assurance

import "fmt"

// Level is an assurance level. The zero value is not a level.
type Level int

// The levels, from weakest to strongest. A higher level is never granted by a lower method.
const (
	// Low: controls a contact channel (email or phone on file).
	Low Level = iota + 1
	// Substantial: holds an enrolled device (authenticator app, passkey without user verification).
	Substantial
	// High: phishing-resistant and multi-factor (passkey with user verification).
	High
)

// The `acr` claim values, one per level.
const (
	ACRLow         = "urn:authsvc:acr:low"
	ACRSubstantial = "urn:authsvc:acr:substantial"
	ACRHigh        = "urn:authsvc:acr:high"
)

// AMR values (RFC 8176 where it registers one; "email" is this service's own,
// since RFC 8176 has no value for a code sent by email).
const (
	AMROTP   = "otp"
	AMRSMS   = "sms"
	AMREmail = "email"
	AMRHWK   = "hwk"
	AMRSWK   = "swk"
	AMRUser  = "user"
	AMRPIN   = "pin"
	AMRFPT   = "fpt"
	AMRFace  = "face"
)

// Valid reports whether l is one of the defined levels.
func (l Level) Valid() bool { return l >= Low && l <= High }

// ACR returns the `acr` claim value for l, or "" for an undefined level.
func (l Level) ACR() string {
	switch l {
	case Low:
		return ACRLow
	case Substantial:
		return ACRSubstantial
	case High:
		return ACRHigh
	}
	return ""
}

// String returns the level's name in lower case.
func (l Level) String() string {
	switch l {
	case Low:
		return "low"
	case Substantial:
		return "substantial"
	case High:
		return "high"
	}
	return fmt.Sprintf("level(%d)", int(l))
}

// ParseACR returns the level an `acr` value names.
func ParseACR(acr string) (Level, bool) {
	switch acr {
	case ACRLow:
		return Low, true
	case ACRSubstantial:
		return Substantial, true
	case ACRHigh:
		return High, true
	}
	return 0, false
}

// Meets reports whether l satisfies a requirement of at least min.
func (l Level) Meets(min Level) bool { return l.Valid() && l >= min }

// Package handover is what a deployment configures for handovers, and the
// formats their codes travel in: the brand's secure channels (an id, a display
// name per language, the exact https URLs the customer's browser may be sent to,
// the client that redeems), the phone number with the client of the phone system,
// the PKCE (RFC 7636, S256) check of a channel's verifier, and the call code's
// digits.
//
// The handover lifecycle itself (create, bind, redeem: one Lua script each, on
// the verification's slot) lives in package challenge, beside the verification
// record it reads atomically: a redemption hands over what the record says at
// that moment, so a revoked, superseded or erased verification hands over
// nothing. Package grpcapi and package web look channels up here and pass
// challenge only ids.
//
// # Contract
//
//   - A channel's redirect URLs are compared byte for byte: no prefix, no
//     normalisation, no wildcard; each is absolute https (http only on
//     localhost, for development) with no fragment and no user info.
//   - A channel is redeemed by exactly one client; so is the phone.
//   - Parsing never quotes a value in its errors: a secret pasted into the wrong
//     field does not reach a log.
package handover

// Package policy is the disclosure policy: the care agent's list of what may be
// shared where, and on what proof, as data (DESIGN.md Flow step 5). It maps data
// classes (order_status, shipping_address, ...) to the minimum assurance level, the
// largest age of the customer's authentication and the channels the data may be
// revealed in, and answers "may this data class be revealed in this channel of
// this conversation on this assertion?".
//
// It is a domain package: it imports no transport and verifies no token. Callers
// verify the assertion first (package assertion, and the revocation check) and
// hand Decide the claims it needs.
//
// # File format
//
// A policy file is one YAML document:
//
//	data_classes:
//	  - data_class: shipping_address        # [a-z][a-z0-9_]{0,63}, unique
//	    description: Delivery address on file  # one line, at most 200 bytes, shown as written (see below)
//	    min_level: substantial              # low | substantial | high
//	    max_age: 15m                        # Go duration, whole seconds, 1s to 24h
//	    channels: [dm, secure_channel]      # dm | secure_channel | phone
//
// Every key is required and no other key is accepted. Agents read the
// description: it must pass package text's Display (no bidirectional controls,
// invisible or control characters) and is kept in NFC. public_reply is a channel
// a caller may ask about but no policy may allow: account data is never shared
// in public, so every valid policy denies every data class there. [Parse] reports
// every problem at once in a [*ParseError], each naming the file and the line to
// fix. [Default] is the policy that ships with authsvc (default.yaml beside this
// file); [Policy.Rules] returns the rules in file order.
//
// # Decisions
//
// [Policy.Decide] returns [ErrUnknownDataClass] for a data class the policy does
// not name and [ErrUnknownChannel] for an undefined channel; otherwise it returns a
// [Decision] and no error, whether allowed or not: a denial is an answer. Every
// failed condition is reported, in this order:
//
//   - [LevelTooLow]: the assertion's level does not meet the rule's MinLevel.
//   - [TooOld]: more than MaxAge has passed between auth_time and now (exactly
//     MaxAge is still allowed; a missing auth_time is too old).
//   - [ChannelNotAllowed]: the rule does not list the channel, or the assertion
//     was handed over (hov, [Claims].Handover) to another channel: what the
//     secure channel or the phone line was handed is for that channel alone.
//   - [ConversationMismatch]: the conversation asked about is not the assertion's
//     (an empty conversation id never matches).
//
// The decision is allowed exactly when the list is empty. A denial carries the
// RFC 9470 step-up hint (ACRValues: the acr of MinLevel and of every higher
// level, weakest first, space-separated; MaxAge: the rule's MaxAge) exactly when a
// new verification in the asked-for conversation would turn it into an allowance:
// when the level or the age failed and the channel is allowed. No step-up makes a
// forbidden channel allowed, so a ChannelNotAllowed denial never carries the hint,
// and a ConversationMismatch alone does not need one. Decide reads no clock: now is
// the caller's, and must be the clock the assertion was verified with.
package policy

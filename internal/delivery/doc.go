// Package delivery sends one-time codes and magic links out of band: by
// email through SMTP, or as a signed JSON webhook to an SMS gateway or the
// care platform's own relay.
//
// # Contract
//
// A [Message] says what to send to whom; [Render] turns it into localized
// text ([MatchLocale] picks one of package locale's eight: en, es, fr, de,
// pt-BR, it, ar, ja; an unknown locale gets English), with CLDR plural rules.
// Every rendered message names the brand, the social network and the masked
// handle it is for, says the brand asks for the code only on its own page
// at Message.PageHost and never in a chat or by phone, and says when it
// expires. A code SMS ends with the origin-bound line "@host #code" (its own
// line, after a blank one) that iOS and Android autofill from. [DMText] is the
// matching text a care agent posts into the conversation; it never carries a
// code, and it carries the two-word [Phrase] the customer's page shows, so she
// can check that the page and the chat belong together.
//
// The brand, the handle and the destination mask are isolated where they are
// shown, between U+2068 FIRST STRONG ISOLATE and U+2069 POP DIRECTIONAL ISOLATE,
// so that a right-to-left handle or brand cannot reorder the sentence around it:
// always in email (subject and body) and in DM texts; in an SMS only a value that
// is not plain ASCII, since the two marks are outside the GSM 7-bit alphabet and
// would make every SMS UCS-2 (70 characters a segment instead of 160), while an
// ASCII value has no right-to-left letter to reorder in a left-to-right
// sentence. An Arabic SMS (UCS-2 anyway, its sentence right to left) isolates
// every value. Render and DMText refuse a value that package text refuses
// (a bidirectional control could otherwise escape the isolation).
//
// The senders share one method, Send(ctx, Message) error:
//
//   - [SMTP] submits Email messages with mandatory STARTTLS by default and a
//     Message-ID derived from Message.ID, so a retried send can be de-duplicated.
//   - [Webhook] POSTs either channel, signed with HMAC-SHA256 ([VerifySignature]
//     checks it on the receiving side), retrying network errors, 429 and 5xx
//     with the same Idempotency-Key. README.md documents the wire format.
//   - [Outbox] keeps rendered messages in memory for a dev page. It is for
//     development mode only.
//   - [Router] picks the sender by Message.Channel.
//
// The consumer (the challenge lifecycle) declares its own interface over
// Send; this package only provides implementations.
//
// # Errors
//
// Errors are sentinels or typed errors to test with errors.Is and errors.As:
// a failed send is a [*SendError] (errors.Is(err, [ErrSend])) that says
// whether it is temporary; an invalid message a [*MessageError]
// ([ErrInvalidMessage]); an unserved channel a [*ChannelError] ([ErrChannel],
// [ErrNoSender]); a bad configuration a [*ConfigError] ([ErrConfig]). Their
// text is short and stable. No error of this package carries an address,
// phone number, code, link, URL, secret or response body: errors from the
// mail and HTTP libraries, which can embed those, are classified and dropped.
// The package logs nothing.
//
// A Message holds secrets and personal data; callers must not log it.
package delivery

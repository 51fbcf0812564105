// Package web serves authsvc's HTTP surface: the customer pages a person opens on
// her phone (often inside a social app's in-app browser), the JWKS that care tools
// verify assertions with, health endpoints, and in development mode an outbox page
// showing what would have been sent.
//
// # Contract
//
//   - GET and HEAD never change state: chat unfurlers and mail scanners fetch every
//     link. Only a POST that carries a valid form nonce acts. The one exception is
//     /handover/bind (handover.go), the channel's redirect back: it acts only for
//     the browser carrying the binding cookie of the verification (which no
//     unfurler has) and bringing back the state its own continue form issued for
//     that handover (which no cross-site page has), once, and answers a repeat
//     with the same code.
//   - A form nonce is stateless: base64url(issued-at ‖ 16 random bytes ‖ HMAC)
//     where the HMAC (keyedhash purpose "form-nonce") binds it to the page token
//     and to the form's action. It is valid for Config.NonceTTL and is passed to the
//     domain as the request id, so a double-submitted form counts once. A POST
//     without a valid nonce gets 400 and the form again; nothing is counted.
//   - A POST whose Origin names another origin, or whose Sec-Fetch-Site is
//     cross-site or same-site, is refused with 403 and the form again.
//   - Unknown, malformed, expired, used and canceled links all get the same neutral
//     page, byte for byte: a page never reveals whether a link ever existed. That
//     holds for enrollment links (/e/) too.
//   - A store failure is a 503 "try again in a minute" page, never a success.
//   - Every response carries a strict Content-Security-Policy, Referrer-Policy
//     no-referrer, Cache-Control no-store (static assets and the JWKS excepted),
//     nosniff, a minimal Permissions-Policy, and HSTS when Config.TLS is set. Only
//     the verification pages run script, and only the embedded files: static/page.js
//     (the expiry in the phone's time zone, a countdown, a warning a minute before
//     the page expires, WebOTP) and, where a passkey is offered, static/passkey.js,
//     allowed by a CSP nonce drawn for that response, under Trusted Types and
//     connect-src 'self'. Every page works without them. No inline script, style
//     or handler anywhere. Links and form actions are built from Config.PublicURL,
//     never from the Host header (a message page's language switch links to itself
//     by a relative "?lang=").
//   - The code page (/v/{token}) offers the methods challenge.Page.Methods lists,
//     in that order: the code that was sent, an authenticator app's code (TOTP)
//     and a passkey. Its passkey endpoints, /v/{token}/passkey/begin and …/finish
//     (and the enrollment's under /e/{token}/passkey/), act only on a same-origin
//     POST of application/json, at most 64 KiB, carrying a nonce: begin takes the
//     page's and returns the ceremony's options with a fresh nonce for finish, so
//     every ceremony's finish has a request id of its own. Other methods get 405,
//     other content types 415, bigger bodies 413. Every answer is JSON
//     {outcome, title, message, tone}, in the page's language.
//   - Social apps open DM links in their own browsers, where passkeys often fail.
//     A page that offers a passkey shows how to open it in the phone's browser
//     (with the link to copy) when the User-Agent names such an app (inapp.go), or
//     when the script finds no WebAuthn; the page's other methods stay usable.
//   - Enrollment pages (/e/{token}, only with WithEnrollments) name the brand,
//     never the customer. GET shows what the link sets up; a POST draws the TOTP
//     key and shows it as a QR code (inline SVG), an otpauth:// link and typed
//     text, then confirms the app's first code; a passkey is created by the script.
//   - Pages speak the eight languages of package locale (en, es, fr, de, pt-BR, it,
//     ar right to left with dir="rtl" and logical CSS properties, ja), with CLDR
//     plural forms: the language she picked with the switch (?lang= on a GET, the
//     form's lang on a POST; exact names only), else the verification's locale,
//     else Accept-Language, else English. Anything unknown or malformed falls
//     through, never to an error. The switch is on every page a GET shows again (the
//     forms, the neutral page, the enrollment intro): a link to the same page that
//     changes nothing but the language; an outcome only a POST reached keeps the
//     language its form carried.
//   - Trust cues: every page names the host it is on ("You're on …") and shows the
//     brand's logo when configured (Config.Cues, a static file under the CSP). A
//     verification's page names the brand's official account on its network, when
//     it expires (a time, and a countdown where script runs), and the two-word
//     phrase the DM text carries (in the DM's language), asking her to check it
//     before she enters anything. "This isn't the account I'm talking to" ends the
//     verification FAILED (REPORTED) with an audit event flagged r=impersonation.
//   - Text from the caller or the operator (the brand, the masked handle, the
//     masked address) sits in a <bdi> of its own where a page shows it (catalog's
//     Isolated), or between FSI and PDI in a title, so that right-to-left text in
//     it cannot reorder the sentence around it. The brand is refused at New when
//     package text refuses it.
//   - Logs name the method, the route pattern, the status and the duration; never
//     a path, token, code, email or phone number.
//
// All routes live under PublicURL's path, so a PublicURL of
// https://example.com/verify serves /verify/v/{token}, /verify/healthz and so on.
package web

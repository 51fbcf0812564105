// Package web serves authsvc's HTTP surface: the customer pages a person opens on
// her phone (often inside a social app's in-app browser), the JWKS that care tools
// verify assertions with, health endpoints, and in development mode an outbox page
// showing what would have been sent.
//
// # Contract
//
//   - GET and HEAD never change state: chat unfurlers and mail scanners fetch every
//     link. Only a POST that carries a valid form nonce acts.
//   - A form nonce is stateless: base64url(issued-at ‖ 16 random bytes ‖ HMAC)
//     where the HMAC (keyedhash purpose "form-nonce") binds it to the page token
//     and to the form's action. It is valid for Config.NonceTTL and is passed to the
//     domain as the request id, so a double-submitted form counts once. A POST
//     without a valid nonce gets 400 and the form again; nothing is counted.
//   - A POST whose Origin names another origin, or whose Sec-Fetch-Site is
//     cross-site or same-site, is refused with 403 and the form again.
//   - Unknown, malformed, expired, used and canceled links all get the same neutral
//     page, byte for byte: a page never reveals whether a link ever existed.
//   - A store failure is a 503 "try again in a minute" page, never a success.
//   - Every response carries a strict Content-Security-Policy (no script at all),
//     Referrer-Policy no-referrer, Cache-Control no-store (static assets and the
//     JWKS excepted), nosniff, a minimal Permissions-Policy, and HSTS when
//     Config.TLS is set. Links and form actions are built from Config.PublicURL,
//     never from the Host header.
//   - Pages are in English and Spanish: the Accept-Language header when it matches
//     a supported language, else the verification's locale.
//   - Logs name the method, the route pattern, the status and the duration; never
//     a path, token, code, email or phone number.
//
// All routes live under PublicURL's path, so a PublicURL of
// https://example.com/verify serves /verify/v/{token}, /verify/healthz and so on.
package web

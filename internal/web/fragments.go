package web

import (
	"html/template"
	"strings"
)

// The verification pages' trust cues and report forms are built here, not by
// the "trust" and "reports" templates they replace: html/template runs its
// escapers by reflection on every action, and these two parts, on every code and
// magic-link page, cost as much as the rest of the page together (the render
// budget of issue 16; BENCHMARKS.md). Every value is escaped here as the template
// would: text and attribute values with template.HTMLEscapeString, the caller's
// and operator's text through catalog.Isolated (a <bdi> each). URLs are the
// page's own (built from Config.PublicURL), nonces base64url, languages names
// from package locale.

// trustHTML is a verification page's trust cues: the official account on its
// network (when configured), the expiry with room for the countdown, the live
// region of the timing warning, and the phrase to check against the chat.
func trustHTML(v *view) template.HTML {
	esc := template.HTMLEscapeString
	var b strings.Builder
	b.Grow(1024)
	b.WriteString("<ul class=\"facts\">\n")
	if v.Account != "" {
		b.WriteString("<li>" + string(v.Isolated("trust.account", v.Brand, v.Network, v.Account)) + "</li>\n")
	}
	if v.ExpiresUTC != "" {
		b.WriteString("<li>" + string(v.Isolated("trust.expires", v.ExpiresAt())) +
			"<span class=\"countdown\" id=\"countdown\" hidden></span></li>\n")
	}
	b.WriteString("</ul>\n")
	if t := v.Timing; t != nil {
		b.WriteString(`<p class="alert" id="timing" role="status" aria-live="polite" data-left="` + esc(t.Left) +
			`" data-soon="` + esc(t.Soon) + `" data-expired="` + esc(t.Expired) + `"`)
		if t.WebOTP {
			b.WriteString(` data-webotp="1"`)
		}
		if t.Extend != "" {
			b.WriteString(` data-extend="` + esc(t.Extend) + `"`)
		}
		b.WriteString("></p>\n")
	}
	b.WriteString(string(extendHTML(v)))
	if v.Phrase != "" {
		who := v.Brand
		if v.Account != "" {
			who = v.Account
		}
		b.WriteString("<section class=\"check\" aria-labelledby=\"check-heading\">\n<h2 id=\"check-heading\">" +
			esc(v.T("phrase.heading")) + "</h2>\n<p>" + esc(v.T("phrase.body")) + "</p>\n" +
			`<p class="phrase" id="phrase" lang="` + esc(v.PhraseLang) + `">` + esc(v.Phrase) + "</p>\n<p>" +
			string(v.Isolated("phrase.check", who)) + "</p>\n</section>\n")
	}
	return template.HTML(b.String())
}

// extendHTML is the "I need more time" form, beside the expiry, when the page offers
// it (a nonce was issued for it): a plain form that works without script, which
// page.js points at (and focuses) in its warning.
func extendHTML(v *view) template.HTML {
	nonce := v.Nonces[actionExtend]
	if nonce == "" {
		return ""
	}
	esc := template.HTMLEscapeString
	return template.HTML(`<form method="post" action="` + esc(v.Action) + "\" class=\"extend\" id=\"extend\">\n" +
		`<input type="hidden" name="action" value="` + actionExtend + "\">\n" +
		`<input type="hidden" name="lang" value="` + esc(v.lang) + "\">\n" +
		`<input type="hidden" name="nonce" value="` + esc(nonce) + "\">\n" +
		`<button type="submit" class="secondary" id="extend-button">` + esc(v.T("extend.button")) + "</button>\n</form>\n")
}

// reportsHTML is a verification page's two report forms: "this isn't the account
// I'm talking to" (an impersonation report) and "this wasn't me".
func reportsHTML(v *view) template.HTML {
	esc := template.HTMLEscapeString
	var b strings.Builder
	b.Grow(1024)
	b.WriteString("<div class=\"reports\">\n")
	for _, f := range []struct{ action, hint, button string }{
		{actionImpersonation, "impersonation.hint", "impersonation.button"},
		{actionReport, "report.hint", "report.button"},
	} {
		b.WriteString(`<form method="post" action="` + esc(v.Action) + "\" class=\"report\">\n" +
			`<input type="hidden" name="action" value="` + f.action + "\">\n" +
			`<input type="hidden" name="lang" value="` + esc(v.lang) + "\">\n" +
			`<input type="hidden" name="nonce" value="` + esc(v.Nonces[f.action]) + "\">\n" +
			"<p>" + esc(v.T(f.hint)) + "</p>\n" +
			`<button type="submit" class="secondary" id="` + f.action + `">` + esc(v.T(f.button)) + "</button>\n</form>\n")
	}
	b.WriteString("</div>\n")
	return template.HTML(b.String())
}

// Trust is the "trust" partial's markup (trustHTML).
func (v *view) Trust() template.HTML { return trustHTML(v) }

// Reports is the "reports" partial's markup (reportsHTML).
func (v *view) Reports() template.HTML { return reportsHTML(v) }

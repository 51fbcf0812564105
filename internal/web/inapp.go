package web

import (
	"net/http"
	"strings"
)

// inAppBrowsers are the User-Agent marks of the social apps whose own browsers
// open the links of a DM: there passkeys often fail (no WebAuthn, or one that is
// not the phone's passkey provider). Matching is case-insensitive; the first match
// names the app, so a more specific mark comes before a broader one (Messenger's
// before Facebook's, which it also carries).
var inAppBrowsers = []struct{ mark, app string }{
	{"instagram", "Instagram"},
	{"messengerforios", "Messenger"},
	{"messengerliteforios", "Messenger"},
	{"fb_iab/orca", "Messenger"}, // Messenger on Android: FB_IAB/Orca-Android
	{"fban/", "Facebook"},
	{"fbav/", "Facebook"},
	{"fb_iab/", "Facebook"},
	{"twitter", "X"}, // "Twitter for iPhone", "TwitterAndroid": the X app keeps the old name
	{"whatsapp", "WhatsApp"},
	{" line/", "LINE"}, // "… Safari Line/13.20.0"; the space keeps "Inline/" and the like out
	{"micromessenger", "WeChat"},
	{"musical_ly", "TikTok"},
	{"bytedance", "TikTok"},
	{"tiktok", "TikTok"},
	{"snapchat", "Snapchat"},
}

// maxUserAgent bounds how much of a User-Agent is examined.
const maxUserAgent = 1024

// inAppBrowser names the social app whose in-app browser sent userAgent, or "".
func inAppBrowser(userAgent string) string {
	if len(userAgent) > maxUserAgent {
		userAgent = userAgent[:maxUserAgent]
	}
	ua := strings.ToLower(userAgent)
	for _, b := range inAppBrowsers {
		if strings.Contains(ua, b.mark) {
			return b.app
		}
	}
	return ""
}

// inAppNotice is the in-app browser notice of a page that offers a passkey:
// shown when the User-Agent names a social app; otherwise rendered hidden, for the
// script to show when the browser has no WebAuthn at all. link is the page's URL,
// to copy; others says the page offers a way that works in any browser.
func (s *server) inAppNotice(r *http.Request, link string, others bool) *inAppView {
	app := inAppBrowser(r.Header.Get("User-Agent"))
	return &inAppView{Shown: app != "", App: app, Link: link, Others: others}
}

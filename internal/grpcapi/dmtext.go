package grpcapi

import (
	"time"

	"github.com/authsvc/authsvc/internal/delivery"
	"github.com/authsvc/authsvc/internal/identity"
)

// enrollmentDMText returns the text to post in the DM with the enrollment page
// link, in the locale delivery.MatchLocale picks for locale (the pages and
// messages pick the same): delivery.EnrollmentDMText. It carries no secret but
// the link the text exists to post; the link works only in the browser where the
// customer completed the verification that allowed it, and the text says where
// to open it. expiresIn is rounded up to whole minutes, or stated in whole hours
// when it is a multiple of one; never less than a minute.
func enrollmentDMText(locale string, kind identity.Kind, pageURL string, expiresIn time.Duration) string {
	factor := map[identity.Kind]string{identity.KindTOTP: delivery.FactorTOTP, identity.KindPasskey: delivery.FactorPasskey}[kind]
	return delivery.EnrollmentDMText(locale, factor, pageURL, expiresIn)
}

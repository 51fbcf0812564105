package identity

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// A first factor's notice carries a report link "/r/<id>.<mac>", shaped like an
// enrollment link: the id is "<ctag>-<20 random lower-case base32 characters>",
// the MAC a keyed hash of the id (recomputed under every key of the ring, never
// stored). The link's record, ReportKey, under the customer's tag, holds:
//
//	st   1 open, 2 used
//	ch   the customer hash
//	cl   the client through which the factor was enrolled
//	kd   the factor's kind
//	fi   the factor id
//	lo   the locale of the notice and the page
//	ct   when the factor was added (ms)
//
// It lives Config.ReportTTL. Opening the link changes nothing; the page's POST
// (Report) removes the factor, which revokes every assertion minted on it
// (package challenge: an assertion stands only while its factor is held).

// ReportKey is the record of a factor's report link.
func ReportKey(id string) string { return "v:{" + id[:TagLen] + "}:n:" + id }

// reportMAC is the MAC of a report link id under key kid.
func (s *Store) reportMAC(kid, id string) (string, error) {
	h, err := s.keys.SumWith(kid, "factor-report", []byte(id))
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(h[:16]), nil
}

// newReportLink draws the id and URL of a report link under the customer tag ctag.
func (s *Store) newReportLink(ctag string) (id, link string, err error) {
	body, err := s.randomB32(enrollBodyLen)
	if err != nil {
		return "", "", err
	}
	id = ctag + "-" + body
	mac, err := s.reportMAC(s.keys.Current(), id)
	if err != nil {
		return "", "", unavailable(err)
	}
	return id, s.cfg.PublicURL.JoinPath("r", id+"."+mac).String(), nil
}

// parseReportToken returns the id of a report link token whose shape and MAC
// check out; anything else is ErrNotFound.
func (s *Store) parseReportToken(token string) (string, error) {
	id, mac, ok := strings.Cut(token, ".")
	if !ok || len(id) != enrollIDLen || id[TagLen] != '-' || len(mac) != enrollMACLen ||
		!isLowerB32(id[:TagLen]) || !isLowerB32(id[TagLen+1:]) {
		return "", ErrNotFound
	}
	for _, kid := range s.keys.IDs() {
		want, err := s.reportMAC(kid, id)
		if err == nil && hmac.Equal([]byte(want), []byte(mac)) {
			return id, nil
		}
	}
	return "", ErrNotFound
}

// FactorReport is what a report link's page shows: which kind of factor was added
// and when. It names neither the customer nor the contact.
type FactorReport struct {
	Kind   Kind
	Added  time.Time
	Locale string
}

// OpenReport reads a report link for its page, changing nothing. Unknown,
// malformed, forged, expired and used links are ErrNotFound.
func (s *Store) OpenReport(ctx context.Context, token string) (*FactorReport, error) {
	id, err := s.parseReportToken(token)
	if err != nil {
		return nil, err
	}
	m, err := s.rdb.HGetAll(ctx, ReportKey(id)).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	if m["st"] != "1" {
		return nil, ErrNotFound
	}
	kd, err1 := strconv.Atoi(m["kd"])
	ct, err2 := strconv.ParseInt(m["ct"], 10, 64)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("%w: malformed report link", ErrUnavailable)
	}
	return &FactorReport{Kind: Kind(kd), Added: time.UnixMilli(ct), Locale: m["lo"]}, nil
}

// Report is the customer's "this wasn't me" on a first factor's notice. The
// reported factor was her first, so every factor she holds now was bound on its
// strength or after it: Report removes them all at once (which revokes every
// assertion minted on them), puts the customer on hold for Config.ReportHold (a
// LOW proof binds no first factor until then; a client with may_enroll still can),
// uses the link up and writes factor_reported (c the client the reported factor was
// enrolled through, m its kind, o "removed", or "already_removed" when nothing was
// left). The passkeys' credential claims are released after. The same link
// reported again answers as the first time (a double tap, a retried call); an
// unknown, expired or used-up link is ErrNotFound.
func (s *Store) Report(ctx context.Context, token string) error {
	id, err := s.parseReportToken(token)
	if err != nil {
		return err
	}
	ch, err := s.rdb.HGet(ctx, ReportKey(id), "ch").Result()
	if errors.Is(err, redis.Nil) || (err == nil && ch == "") {
		return ErrNotFound
	}
	if err != nil {
		return unavailable(err)
	}
	pk, err := s.freshPseudonymKey()
	if err != nil {
		return err
	}
	st, reply, err := s.runList(ctx, reportFactorScript, []string{ReportKey(id), CustomerKey(id[:TagLen], ch)},
		ms(s.now()), pk, s.cfg.Retention.Milliseconds(), s.cfg.ReportHold.Milliseconds())
	if err != nil {
		return err
	}
	if st != "removed" {
		return ErrNotFound
	}
	removed, _ := reply[1].([]any)
	for i := 0; i+1 < len(removed); i += 2 {
		fid, _ := removed[i].(string)
		v, _ := removed[i+1].(string)
		f, err := parseFactor(fid, v)
		if err != nil {
			s.log.WarnContext(ctx, "reported factor does not parse", "factor_id", fid)
			continue
		}
		s.log.WarnContext(ctx, "factor removed on the customer's report of her first factor", "factor_id", f.ID,
			"client_id", f.Client, "kind", f.Kind.String())
		if f.Passkey == nil {
			continue
		}
		if _, err := s.runInt(ctx, credentialReleaseScript, []string{CredentialKey(s.keys, f.Passkey.CredentialID)},
			id[:TagLen]+":"+ch+":"+f.ID); err != nil {
			s.log.WarnContext(ctx, "credential claim not released", "factor_id", f.ID, "err", err)
		}
	}
	return nil
}

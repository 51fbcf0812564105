package main

import (
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/authsvc/authsvc/internal/challenge"
)

// This file holds the kinds of value a setting can have (see settings.go): each
// parses a variable's text into its field of Config and reports what is wrong
// with it, naming the variable and saying what it wants. A kind stores nothing
// on a syntax error (the field keeps its default) and stores an out-of-range
// value after reporting it, so that no cross-field check trips on a made-up value.

// A value is the kind and field of one setting.
type value interface {
	// set parses raw (trimmed, never empty) into the field, reporting each
	// problem through r as "NAME: ...".
	set(r *envReader, name, raw string)
	// bounds describes the values accepted, for docs/configuration.md, or "".
	bounds() string
}

// envReader reads variables and collects every problem, so that a bad
// configuration is reported whole, one line per problem.
type envReader struct {
	getenv   func(string) string
	problems []string
	// bad names the variables whose own value was refused; cross-field checks
	// skip them rather than add a second problem about the same variable.
	bad map[string]bool
}

func (r *envReader) addf(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

// refuse reports a problem with the value of name, "NAME: " and the text.
func (r *envReader) refuse(name, format string, args ...any) {
	r.addf("%s: "+format, append([]any{name}, args...)...)
	r.markBad(name)
}

// markBad records that the value of name was refused.
func (r *envReader) markBad(name string) {
	if r.bad == nil {
		r.bad = map[string]bool{}
	}
	r.bad[name] = true
}

// raw is the variable's value without surrounding space; "" when unset.
func (r *envReader) raw(name string) string { return strings.TrimSpace(r.getenv(name)) }

// valueFunc is a one-off kind: a function of the raw text, with no bounds to
// document.
type valueFunc func(r *envReader, name, raw string)

func (f valueFunc) set(r *envReader, name, raw string) { f(r, name, raw) }
func (valueFunc) bounds() string                       { return "" }

// str is a string taken as written (trimmed).
func str(p *string) value {
	return valueFunc(func(_ *envReader, _, raw string) { *p = raw })
}

type boolValue struct{ p *bool }

// boolean is true or false, as strconv.ParseBool reads them.
func boolean(p *bool) value { return boolValue{p} }

func (v boolValue) set(r *envReader, name, raw string) {
	b, err := strconv.ParseBool(raw)
	if err != nil {
		r.refuse(name, "want true or false, got %q", raw)
		return
	}
	*v.p = b
}

func (boolValue) bounds() string { return "" }

type durationValue struct {
	p      *time.Duration
	lo, hi time.Duration
}

// duration is a Go duration (500ms, 5s, 10m) from lo to hi.
func duration(p *time.Duration, lo, hi time.Duration) value { return durationValue{p, lo, hi} }

func (v durationValue) set(r *envReader, name, raw string) {
	d, err := time.ParseDuration(raw)
	if err != nil {
		r.refuse(name, "want a duration such as 500ms, 5s or 10m, got %q", raw)
		return
	}
	if d < v.lo || d > v.hi {
		r.refuse(name, "want between %s and %s, got %s", v.lo, v.hi, d)
	}
	*v.p = d
}

func (v durationValue) bounds() string { return fmtDuration(v.lo) + " to " + fmtDuration(v.hi) }

type daysValue durationValue

// days is a long duration from lo to hi: N days written "Nd" (400d), or a Go
// duration such as 9600h.
func days(p *time.Duration, lo, hi time.Duration) value { return daysValue{p, lo, hi} }

func (v daysValue) set(r *envReader, name, raw string) {
	var d time.Duration
	if n, ok := strings.CutSuffix(raw, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > math.MaxInt32 {
			r.refuse(name, "want a number of days such as 400d, or a duration such as 9600h, got %q", raw)
			return
		}
		d = time.Duration(days) * day
	} else {
		var err error
		if d, err = time.ParseDuration(raw); err != nil {
			r.refuse(name, "want a number of days such as 400d, or a duration such as 9600h, got %q", raw)
			return
		}
	}
	if d < v.lo || d > v.hi {
		r.refuse(name, "want between %s and %s, got %s", daysString(v.lo), daysString(v.hi), raw)
	}
	*v.p = d
}

func (v daysValue) bounds() string {
	doc := func(d time.Duration) string {
		if d%day == 0 {
			return daysString(d)
		}
		return fmtDuration(d)
	}
	return "`Nd` or a Go duration, " + doc(v.lo) + " to " + doc(v.hi)
}

// daysString writes a whole number of days as "Nd", anything else as a duration.
func daysString(d time.Duration) string {
	if d%day == 0 {
		return strconv.Itoa(int(d/day)) + "d"
	}
	return d.String()
}

// fmtDuration writes d in its largest whole unit, as an operator would:
// 65m, 24h, 500ms (time.Duration.String writes 1h5m0s).
func fmtDuration(d time.Duration) string {
	for _, u := range []struct {
		d    time.Duration
		unit string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}} {
		if d != 0 && d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.unit
		}
	}
	if d == 0 {
		return "0s"
	}
	return d.String()
}

type intValue struct {
	p      *int
	lo, hi int
}

// integer is a whole number from lo to hi.
func integer(p *int, lo, hi int) value { return intValue{p, lo, hi} }

func (v intValue) set(r *envReader, name, raw string) {
	n, err := strconv.Atoi(raw)
	if err != nil {
		r.refuse(name, "want a whole number, got %q", raw)
		return
	}
	if n < v.lo || n > v.hi {
		r.refuse(name, "want between %d and %d, got %d", v.lo, v.hi, n)
	}
	*v.p = n
}

func (v intValue) bounds() string { return strconv.Itoa(v.lo) + " to " + strconv.Itoa(v.hi) }

type enumValue struct {
	p     *string
	words []string
}

// enum is one of words, in any case; the field holds it in lower case.
func enum(p *string, words ...string) value { return enumValue{p, words} }

func (v enumValue) set(r *envReader, name, raw string) {
	w := strings.ToLower(raw)
	if !slices.Contains(v.words, w) {
		r.refuse(name, "want %s, got %q", orList(v.words, "%s"), w)
		return
	}
	*v.p = w
}

func (v enumValue) bounds() string { return "One of " + orList(v.words, "`%s`") }

// orList writes "a, b or c", each word formatted by format.
func orList(words []string, format string) string { return joinList(words, format, " or ") }

// joinList writes words separated by commas, the last two by last.
func joinList(words []string, format, last string) string {
	var b strings.Builder
	for i, w := range words {
		switch {
		case i == 0:
		case i == len(words)-1:
			b.WriteString(last)
		default:
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, format, w)
	}
	return b.String()
}

type pathValue struct {
	p       *string
	wantDir bool
}

// file is the path of a regular, readable file; it must exist. Only the path
// is ever quoted, never the content.
func file(p *string) value { return pathValue{p, false} }

// dir is the path of a directory; it must exist.
func dir(p *string) value { return pathValue{p, true} }

func (v pathValue) set(r *envReader, name, raw string) {
	fi, err := os.Stat(raw)
	switch {
	case errors.Is(err, os.ErrNotExist):
		r.refuse(name, "%s does not exist", raw)
	case err != nil:
		r.refuse(name, "cannot read %s: %v", raw, errors.Unwrap(err))
	case v.wantDir && !fi.IsDir():
		r.refuse(name, "%s is not a directory", raw)
	case !v.wantDir && fi.IsDir():
		r.refuse(name, "%s is a directory, want a file", raw)
	}
	*v.p = raw
}

func (pathValue) bounds() string { return "" }

// address is a listen address, host:port.
func address(p *string) value {
	return valueFunc(func(r *envReader, name, raw string) {
		*p = raw
		_, port, err := net.SplitHostPort(raw)
		if err != nil {
			r.refuse(name, "want host:port such as :8080 or 127.0.0.1:8080, got %q", raw)
			return
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			r.refuse(name, "bad port in %q", raw)
		}
	})
}

// Bounds of a rate N/DURATION.
const (
	maxRateN   = 1_000_000
	minRatePer = time.Second
	maxRatePer = 7 * day
)

// rate is N/DURATION: N sends in any window of DURATION. Its bounds are the
// same for every rate and documented once, above the table.
func rate(p *challenge.Rate, example string) value {
	return valueFunc(func(r *envReader, name, raw string) {
		ns, ds, ok := strings.Cut(raw, "/")
		n, nErr := strconv.Atoi(strings.TrimSpace(ns))
		per, dErr := time.ParseDuration(strings.TrimSpace(ds))
		if !ok || nErr != nil || dErr != nil {
			r.refuse(name, "want N/DURATION, N sends per window, such as %s, got %q", example, raw)
			return
		}
		switch {
		case n < 1 || n > maxRateN:
			r.refuse(name, "want N between 1 and %d, got %d", maxRateN, n)
		case per < minRatePer || per > maxRatePer:
			r.refuse(name, "want DURATION between %s and %s, got %s", minRatePer, maxRatePer, per)
		case per/time.Duration(n) < time.Millisecond:
			r.refuse(name, "%d per %s is more than one send per millisecond; lower N or lengthen DURATION", n, per)
		}
		*p = challenge.Rate{N: n, Per: per}
	})
}

// callingCodes is a comma-separated list of country calling codes (an optional
// leading + is allowed), each one known.
func callingCodes(p *[]int) value {
	return valueFunc(func(r *envReader, name, raw string) {
		known := phonenumbers.GetSupportedCallingCodes()
		var out []int
		for _, f := range strings.Split(raw, ",") {
			f = strings.TrimPrefix(strings.TrimSpace(f), "+")
			cc, err := strconv.Atoi(f)
			switch {
			case f == "":
				r.refuse(name, "empty entry in %q; want calling codes separated by commas, e.g. 1,44,34", raw)
			case err != nil || cc <= 0:
				r.refuse(name, "want country calling codes such as 1,44,34, got %q", f)
			case !known[cc]:
				r.refuse(name, "%d is not a country calling code", cc)
			case !slices.Contains(out, cc):
				out = append(out, cc)
			}
		}
		*p = out
	})
}

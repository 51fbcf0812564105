// Package text makes the strings that callers and operators supply, and that a
// person then reads, safe to show: a handle in a page's heading and an email
// subject, an agent id in an assertion and the audit trail, the brand from the
// configuration.
//
// # Contract
//
//   - Display accepts a string only when every character in it shows as itself.
//     It refuses invalid UTF-8; control characters (Cc); format characters (Cf),
//     among them the bidirectional controls (U+202A–U+202E, U+2066–U+2069, U+200E,
//     U+200F, U+061C), the zero-width characters (U+200B–U+200D, U+2060, U+FEFF)
//     and the tag characters; line and paragraph separators (U+2028, U+2029);
//     invisible fillers (Other_Default_Ignorable_Code_Point, such as U+3164);
//     private-use characters (their glyph depends on the font, U+F8FF is a logo on
//     some phones); code points unassigned in the Unicode version of this build's
//     normalisation tables (Version: nothing defines how they show or normalise);
//     U+FFFD (text damaged on its way); a blank string; and a string that starts
//     with a combining mark (it would join whatever precedes it on the page).
//     What it accepts it returns in Unicode Normalization Form C.
//   - A refusal is an *Error whose text is a field violation's description: it
//     names the kind of character and its code point, never the value.
//   - Isolate wraps a string in FSI … PDI (U+2068 … U+2069) for plain text, so
//     that right-to-left characters in it cannot reorder the sentence around it.
//     HTML pages isolate with <bdi> instead.
//
// # NFC, not NFKC
//
// A person reads these strings. NFC only picks one encoding of the same
// characters ("é" as one code point rather than "e" and U+0301), so a handle is
// stored, masked and compared one way however the platform encoded it. NFKC
// would also change what the person sees: "ﬁ" becomes "fi", "①" becomes "1",
// fullwidth letters become ASCII. Matching that must treat such spellings as one
// (the per-mailbox send limit) folds further where it matches, not where it shows.
package text

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/unicode/rangetable"
)

// Version is the Unicode version whose assigned code points Display accepts: that
// of the normalisation tables, so that everything accepted has a defined NFC.
var Version = norm.Version

// assigned holds the code points assigned in Version.
var assigned = rangetable.Assigned(Version)

// Error says why a string may not be shown. Its text is the description of a
// field violation ("must not contain U+202E, a bidirectional control character"):
// it never quotes the string.
type Error struct {
	description string
}

func (e *Error) Error() string { return e.description }

func refuse(format string, args ...any) *Error {
	return &Error{description: fmt.Sprintf(format, args...)}
}

// Display returns s in NFC when it is safe to show to a person, or an *Error
// saying what is wrong with it (see the package contract). An empty s is
// returned as is: whether a value is required is the caller's business.
func Display(s string) (string, error) {
	if printableASCII(s) {
		// Every printable ASCII character shows as itself and is its own NFC;
		// the only thing left to refuse is a string of spaces.
		if s != "" && strings.TrimLeft(s, " ") == "" {
			return "", refuse("must not be blank")
		}
		return s, nil
	}
	return display(s)
}

// display is Display without its ASCII shortcut.
func display(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", refuse("must be valid UTF-8")
	}
	s = norm.NFC.String(s)
	if s != "" && strings.TrimFunc(s, unicode.IsSpace) == "" {
		return "", refuse("must not be blank")
	}
	for i, r := range s {
		if err := checkRune(i, r); err != nil {
			return "", err
		}
	}
	return s, nil
}

// printableASCII tells whether s holds nothing but U+0020 to U+007E: most
// handles, agent ids and addresses, which then need no tables.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func checkRune(i int, r rune) error {
	switch {
	case i == 0 && unicode.Is(unicode.M, r):
		return refuse("must not start with a combining mark")
	case unicode.Is(unicode.Bidi_Control, r):
		return refuse("must not contain %U, a bidirectional control character", r)
	case unicode.Is(unicode.Cc, r):
		return refuse("must not contain %U, a control character", r)
	case unicode.Is(unicode.Cf, r):
		return refuse("must not contain %U, an invisible formatting character", r)
	case unicode.In(r, unicode.Zl, unicode.Zp):
		return refuse("must not contain %U, a line or paragraph separator", r)
	case unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r):
		return refuse("must not contain %U, an invisible character", r)
	case unicode.Is(unicode.Co, r):
		return refuse("must not contain %U, a private-use character", r)
	case r == utf8.RuneError:
		return refuse("must not contain U+FFFD, the replacement character (the text was damaged on its way)")
	case !unicode.Is(assigned, r):
		return refuse("must not contain %U, a code point not assigned in Unicode %s", r, Version)
	}
	return nil
}

// Isolate wraps s in FIRST STRONG ISOLATE … POP DIRECTIONAL ISOLATE, for plain
// text (an email, an SMS, a chat message, a page title): s keeps its own
// direction and cannot move the words around it. s must have passed Display, so
// that it holds no directional control of its own that could escape the isolate.
func Isolate(s string) string {
	return "\u2068" + s + "\u2069"
}

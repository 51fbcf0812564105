package verify

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
)

// CodeDigits is the length of a one-time code.
const CodeDigits = 6

var codeSpace = big.NewInt(1_000_000)

// ErrCodeFormat is returned for input that cannot be a code.
var ErrCodeFormat = errors.New("verify: a code is 6 digits")

// NewCode returns a uniformly random 6-digit code. rand.Int draws by rejection
// sampling, so every code is equally likely (no modulo bias).
func NewCode(random io.Reader) (string, error) {
	n, err := rand.Int(random, codeSpace)
	if err != nil {
		return "", fmt.Errorf("verify: draw code: %w", err)
	}
	return fmt.Sprintf("%0*d", CodeDigits, n.Int64()), nil
}

// NormalizeCode turns what a customer typed into a code: spaces and dashes are
// dropped ("123 456", "123-456"), the digits of the keyboards the pages' languages
// use are read as the digits they are (asciiDigit: Arabic-Indic, Eastern
// Arabic-Indic, fullwidth); anything else but exactly six digits is ErrCodeFormat.
func NormalizeCode(input string) (string, error) {
	if len(input) > 32 {
		return "", ErrCodeFormat
	}
	var b strings.Builder
	for _, r := range input {
		switch {
		case r == ' ' || r == '-' || r == '\t' || r == '\u00a0':
			continue
		case asciiDigit(r) != 0:
			b.WriteRune(asciiDigit(r))
		default:
			return "", ErrCodeFormat
		}
	}
	if b.Len() != CodeDigits {
		return "", ErrCodeFormat
	}
	return b.String(), nil
}

// asciiDigit returns the ASCII digit a decimal digit stands for, or 0 for a rune
// that is not one: '0'–'9', and the same digits as an Arabic keyboard types them
// (U+0660–U+0669, and U+06F0–U+06F9 on Persian and Urdu layouts) or a Japanese
// input method in full width (U+FF10–U+FF19). A code is six of the same ten
// digits whatever the keyboard, so reading them changes nothing a guesser can use.
func asciiDigit(r rune) rune {
	switch {
	case r >= '0' && r <= '9':
		return r
	case r >= '\u0660' && r <= '\u0669':
		return '0' + r - '\u0660'
	case r >= '\u06f0' && r <= '\u06f9':
		return '0' + r - '\u06f0'
	case r >= '\uff10' && r <= '\uff19':
		return '0' + r - '\uff10'
	}
	return 0
}

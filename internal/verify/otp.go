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
// dropped ("123 456", "123-456"); anything else but exactly six ASCII digits is
// ErrCodeFormat.
func NormalizeCode(input string) (string, error) {
	if len(input) > 32 {
		return "", ErrCodeFormat
	}
	var b strings.Builder
	for _, r := range input {
		switch {
		case r == ' ' || r == '-' || r == '\t' || r == '\u00a0':
			continue
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			return "", ErrCodeFormat
		}
	}
	if b.Len() != CodeDigits {
		return "", ErrCodeFormat
	}
	return b.String(), nil
}

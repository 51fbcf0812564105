package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/authsvc/authsvc/internal/web"
)

// The brand's trust cues on the customer pages (issue 16): its logo, colour
// and official accounts, each checked as the pages will show it, so that a bad
// one stops the start with what is wrong.

// brandLogo reads and checks the logo file (web.CheckLogo).
func brandLogo(c *web.BrandCues) value {
	return valueFunc(func(r *envReader, name, raw string) {
		b, err := readLimited(raw, web.MaxLogoBytes)
		if err != nil {
			r.refuse(name, "%v", err)
			return
		}
		if _, err := web.CheckLogo(b); err != nil {
			r.refuse(name, "the logo %v", err)
			return
		}
		c.Logo = b
	})
}

// brandColour checks a #rrggbb that white text reads on (web.CheckColour).
func brandColour(c *web.BrandCues) value {
	return valueFunc(func(r *envReader, name, raw string) {
		v := strings.ToLower(raw)
		if err := web.CheckColour(v); err != nil {
			r.refuse(name, "%v", err)
			return
		}
		c.Colour = v
	})
}

// networkName is what AUTHSVC_BRAND_ACCOUNTS accepts as a network: the lower-case
// name StartVerification's identity.network carries ("x", "instagram", …).
var networkName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// brandAccounts reads NETWORK:HANDLE,… (web.CheckAccount for each handle).
func brandAccounts(c *web.BrandCues) value {
	return valueFunc(func(r *envReader, name, raw string) {
		c.Accounts = map[string]string{}
		for _, item := range strings.Split(raw, ",") {
			network, handle, ok := strings.Cut(strings.TrimSpace(item), ":")
			network = strings.ToLower(strings.TrimSpace(network))
			switch {
			case !ok || !networkName.MatchString(network):
				r.refuse(name, "want NETWORK:HANDLE,… such as x:@Acme,instagram:@acme; %q is not", item)
				continue
			case c.Accounts[network] != "":
				r.refuse(name, "%s is named twice", network)
				continue
			}
			h, err := web.CheckAccount(handle)
			if err != nil {
				r.refuse(name, "the account on %s %v", network, err)
				continue
			}
			c.Accounts[network] = h
		}
	})
}

// readLimited reads a file of at most limit bytes; a bigger one is an error that
// says its size.
func readLimited(path string, limit int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, errors.New("cannot be read")
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, errors.New("cannot be read")
	}
	if len(b) > limit {
		return nil, fmt.Errorf("is over %d bytes (16 KiB); shrink or simplify the logo", limit)
	}
	return b, nil
}

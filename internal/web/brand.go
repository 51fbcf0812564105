package web

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"image/png"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/authsvc/authsvc/internal/text"
)

// BrandCues is how the pages present the brand beyond its name: the trust cues a
// customer can check at a glance.
type BrandCues struct {
	// Logo is a PNG or SVG image of at most MaxLogoBytes (CheckLogo), shown beside
	// the brand's name on every page and served as a static file under the strict
	// CSP (an image, so an SVG runs nothing). Empty: no logo.
	Logo []byte
	// Colour is the brand's colour as #rrggbb, the background of the primary
	// buttons under white text: CheckColour holds it to WCAG's 4.5:1 contrast.
	// Empty: the pages' own blue.
	Colour string
	// Accounts are the brand's official accounts by network ("x", "instagram",
	// "messenger", "whatsapp", …, lower case): a verification's page names the one
	// on its network as the account talking to the customer.
	Accounts map[string]string
}

// MaxLogoBytes bounds a logo: the pages' whole weight stays under 60 kB.
const MaxLogoBytes = 16 << 10

// maxLogoPixels bounds a PNG logo's sides.
const maxLogoPixels = 1024

type logoKind struct{ ext, contentType string }

var (
	logoPNG = logoKind{"png", "image/png"}
	logoSVG = logoKind{"svg", "image/svg+xml"}
)

// CheckLogo reports whether b is a logo the pages can show: a PNG (decodable,
// sides of at most 1024 px) or an SVG document (a well-formed <svg> root, with no
// script, no event handler attribute, no foreignObject and no reference outside
// the document), of at most MaxLogoBytes. The error says what is wrong.
func CheckLogo(b []byte) (logoKind, error) {
	switch {
	case len(b) == 0:
		return logoKind{}, errors.New("is empty")
	case len(b) > MaxLogoBytes:
		return logoKind{}, fmt.Errorf("is %d bytes; at most %d (16 KiB) keeps the page light: shrink or simplify it", len(b), MaxLogoBytes)
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		cfg, err := png.DecodeConfig(bytes.NewReader(b))
		if err != nil {
			return logoKind{}, fmt.Errorf("is not a valid PNG: %w", err)
		}
		if cfg.Width > maxLogoPixels || cfg.Height > maxLogoPixels || cfg.Width == 0 || cfg.Height == 0 {
			return logoKind{}, fmt.Errorf("is %dx%d px; at most %dx%d", cfg.Width, cfg.Height, maxLogoPixels, maxLogoPixels)
		}
		return logoPNG, nil
	}
	if err := checkSVG(b); err != nil {
		return logoKind{}, err
	}
	return logoSVG, nil
}

// checkSVG accepts a self-contained SVG document that can show nothing but itself.
func checkSVG(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	root := true
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			if root {
				return errors.New("is neither a PNG nor an SVG document")
			}
			return nil
		}
		if err != nil {
			return errors.New("is neither a PNG nor a well-formed SVG document")
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name := strings.ToLower(t.Name.Local)
			if root && name != "svg" {
				return errors.New("is neither a PNG nor an SVG document (its root element is not <svg>)")
			}
			root = false
			if name == "script" || name == "foreignobject" || name == "iframe" {
				return fmt.Errorf("is an SVG with a <%s> element; a logo must be a plain image", t.Name.Local)
			}
			for _, a := range t.Attr {
				an := strings.ToLower(a.Name.Local)
				if strings.HasPrefix(an, "on") {
					return fmt.Errorf("is an SVG with an event handler (%s); a logo must be a plain image", a.Name.Local)
				}
				if (an == "href" || an == "src") && !strings.HasPrefix(strings.TrimSpace(a.Value), "#") {
					return errors.New("is an SVG that refers to something outside itself; embed everything it shows")
				}
				if an == "style" && strings.Contains(strings.ToLower(a.Value), "url(") && !strings.Contains(a.Value, "url(#") {
					return errors.New("is an SVG that refers to something outside itself; embed everything it shows")
				}
			}
		case xml.Directive:
			return errors.New("is an SVG with a DOCTYPE or entity declaration; remove it")
		case xml.ProcInst:
			if !strings.EqualFold(t.Target, "xml") {
				return errors.New("is an SVG with a processing instruction; remove it")
			}
		}
	}
}

// CheckColour reports whether c is a colour #rrggbb that white text on it reads
// at a contrast of at least 4.5:1 (WCAG 2.2 SC 1.4.3), as on the primary button.
func CheckColour(c string) error {
	if len(c) != 7 || c[0] != '#' {
		return errors.New("must be a colour written #rrggbb, e.g. #1d4ed8")
	}
	v, err := strconv.ParseUint(c[1:], 16, 32)
	if err != nil {
		return errors.New("must be a colour written #rrggbb, e.g. #1d4ed8")
	}
	if r := contrastWithWhite(uint8(v>>16), uint8(v>>8), uint8(v)); r < 4.5 {
		return fmt.Errorf("gives white text a contrast of %.2f:1; it needs at least 4.5:1 (WCAG 1.4.3): choose a darker shade", r)
	}
	return nil
}

func contrastWithWhite(r, g, b uint8) float64 {
	lin := func(c uint8) float64 {
		x := float64(c) / 255
		if x <= 0.04045 {
			return x / 12.92
		}
		return pow((x+0.055)/1.055, 2.4)
	}
	l := 0.2126*lin(r) + 0.7152*lin(g) + 0.0722*lin(b)
	return 1.05 / (l + 0.05)
}

// CheckAccount reports whether handle can be shown as an official account.
func CheckAccount(handle string) (string, error) {
	h, err := text.Display(strings.TrimSpace(handle))
	if err != nil {
		return "", err
	}
	if h == "" {
		return "", errors.New("must not be empty")
	}
	if len(h) > 64 {
		return "", errors.New("must be at most 64 bytes")
	}
	return h, nil
}

// brandCSS sets the brand's colour where the stylesheet uses it.
func brandCSS(colour string) []byte {
	return []byte(":root { --brand: " + colour + "; }\n")
}

func pow(x, y float64) float64 { return math.Pow(x, y) }

// checkCues checks c and keeps its accounts in the form the pages show, by
// lower-case network name.
func checkCues(c *BrandCues) error {
	if len(c.Logo) > 0 {
		if _, err := CheckLogo(c.Logo); err != nil {
			return fmt.Errorf("web: the logo %w", err)
		}
	}
	if c.Colour != "" {
		if err := CheckColour(c.Colour); err != nil {
			return fmt.Errorf("web: the brand colour %w", err)
		}
	}
	accounts := make(map[string]string, len(c.Accounts))
	for network, handle := range c.Accounts {
		h, err := CheckAccount(handle)
		if err != nil {
			return fmt.Errorf("web: the official account on %s %w", network, err)
		}
		accounts[strings.ToLower(network)] = h
	}
	c.Accounts = accounts
	return nil
}

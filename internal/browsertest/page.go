package browsertest

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The phone every page emulates: an iPhone 12–15 sized viewport in portrait.
const (
	PhoneWidth  = 390
	PhoneHeight = 844
	PhoneScale  = 3
)

// DefaultUserAgent is the User-Agent of a page: Chrome on an Android phone. Tests that pretend to be
// an in-app browser append to it or replace it with [WithUserAgent].
const DefaultUserAgent = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 " +
	"(KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36"

// PageOption configures [Browser.NewPage].
type PageOption func(*pageOptions)

type pageOptions struct {
	userAgent string
}

// WithUserAgent sets the page's User-Agent header and navigator.userAgent, for example to the
// User-Agent of Instagram's or Facebook's in-app browser.
func WithUserAgent(ua string) PageOption {
	return func(o *pageOptions) { o.userAgent = ua }
}

// Page is one tab of a [Browser]. Its methods must be called from one goroutine at a time.
type Page struct {
	ctx     context.Context
	browser *Browser
	console *consoleLog

	webauthnEnabled bool // WebAuthn.enable has been sent
}

// NewPage opens a fresh tab emulating a phone: a 390x844 portrait viewport, device scale factor 3,
// touch and a mobile User-Agent ([DefaultUserAgent] unless [WithUserAgent] is given). The tab is
// closed in t.Cleanup. It starts on about:blank.
func (b *Browser) NewPage(t testing.TB, opts ...PageOption) *Page {
	t.Helper()
	o := pageOptions{userAgent: DefaultUserAgent}
	for _, opt := range opts {
		opt(&o)
	}
	console := &consoleLog{}
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithListener(console.listen))
	t.Cleanup(cancel)
	p := &Page{ctx: ctx, browser: b, console: console}

	// The first Do opens the tab and binds its event loop to the context it is given, so it gets
	// the tab's own context; the wait is bounded by a timer that closes the tab instead.
	timer := time.AfterFunc(callTimeout, cancel)
	err := chromedp.Do(ctx)
	if !timer.Stop() {
		t.Fatalf("browsertest: the new tab did not open within %v: %v\n%s", callTimeout, err, b.output)
	}
	if err != nil {
		t.Fatalf("browsertest: open a tab: %v\n%s", err, b.output)
	}
	p.Run(t, chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tgt, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{
			UserAgent: o.userAgent,
		}); err != nil {
			return fmt.Errorf("set user agent: %w", err)
		}
		if _, err := cdp.Call(ctx, tgt, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
			Width:             PhoneWidth,
			Height:            PhoneHeight,
			DeviceScaleFactor: PhoneScale,
			Mobile:            true,
			ScreenOrientation: &emulation.ScreenOrientation{
				Type: emulation.ScreenOrientationTypePortraitPrimary,
			},
		}); err != nil {
			return fmt.Errorf("set device metrics: %w", err)
		}
		if _, err := cdp.Call(ctx, tgt, emulation.SetTouchEmulationEnabled, emulation.SetTouchEmulationEnabledParams{
			Enabled:        true,
			MaxTouchPoints: 5,
		}); err != nil {
			return fmt.Errorf("enable touch: %w", err)
		}
		return nil
	}))
	return p
}

// Ctx returns the chromedp context of the tab, for chromedp.Run and chromedp.Call by callers. It
// has no deadline of its own; bound long waits with context.WithTimeout.
func (p *Page) Ctx() context.Context { return p.ctx }

// Run runs the actions in order with a deadline of about 20 s in all, and fails t on the first
// error with the page's URL, the start of its text and its last console messages.
func (p *Page) Run(t testing.TB, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, callTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.fatal(t, err)
	}
}

// Screenshot captures the viewport as PNG to ArtifactsDir()/<test name>-<name>.png, checks that
// the file is a PNG with the phone's aspect ratio, and returns its path.
func (p *Page) Screenshot(t testing.TB, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, callTimeout)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.fatal(t, fmt.Errorf("screenshot %q: %w", name, err))
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(buf))
	if err != nil {
		t.Fatalf("browsertest: screenshot %q is not a PNG: %v", name, err)
	}
	// The capture is in device pixels (390*3 x 844*3) or CSS pixels, depending on the browser.
	if cfg.Width%PhoneWidth != 0 || cfg.Height*PhoneWidth != cfg.Width*PhoneHeight {
		t.Fatalf("browsertest: screenshot %q is %dx%d; want a multiple of %dx%d",
			name, cfg.Width, cfg.Height, PhoneWidth, PhoneHeight)
	}
	dir := ArtifactsDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("browsertest: screenshot %q: %v", name, err)
	}
	path := filepath.Join(dir, sanitize(t.Name())+"-"+sanitize(name)+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatalf("browsertest: screenshot %q: %v", name, err)
	}
	return path
}

// fatal fails t with err and what the page showed at that moment.
func (p *Page) fatal(t testing.TB, err error) {
	t.Helper()
	t.Fatalf("browsertest: %v\n%s", err, p.describe())
}

// describe returns the page's URL, the start of its text and its last console messages, read
// with a short deadline of its own (the caller's may have expired).
func (p *Page) describe() string {
	ctx, cancel := context.WithTimeout(p.ctx, 3*time.Second)
	defer cancel()
	var b strings.Builder
	if url, err := chromedp.Run(ctx, chromedp.Location()); err == nil {
		fmt.Fprintf(&b, "page: %s\n", url)
	} else {
		fmt.Fprintf(&b, "page: unknown (%v)\n", err)
	}
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`document.body ? document.body.innerText.replace(/\s+/g, " ").trim().slice(0, 300) : ""`))
	if err == nil {
		fmt.Fprintf(&b, "text: %q\n", text)
	}
	if lines := p.console.lines(); len(lines) > 0 {
		fmt.Fprintf(&b, "console (last %d):\n  %s\n", len(lines), strings.Join(lines, "\n  "))
	}
	if err := ctx.Err(); err != nil {
		b.WriteString(p.browser.output.String())
	}
	return b.String()
}

// consoleLog keeps the page's last console messages and uncaught exceptions. chromedp calls
// listen from the tab's event loop, so it only records.
type consoleLog struct {
	mu   sync.Mutex
	last []string
}

const consoleKeep = 10

func (c *consoleLog) listen(ev any) {
	var line string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		parts := make([]string, 0, len(ev.Args))
		for _, a := range ev.Args {
			switch {
			case a.Description != "":
				parts = append(parts, a.Description)
			case len(a.Value) > 0:
				parts = append(parts, string(a.Value))
			default:
				parts = append(parts, string(a.Type))
			}
		}
		line = "console." + string(ev.Type) + ": " + strings.Join(parts, " ")
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		if d == nil {
			return
		}
		line = "uncaught: " + d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			line += " " + d.Exception.Description
		}
	default:
		return
	}
	if len(line) > 300 {
		line = line[:300] + "…"
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = append(c.last, line)
	if len(c.last) > consoleKeep {
		c.last = c.last[len(c.last)-consoleKeep:]
	}
}

func (c *consoleLog) lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.last...)
}

// sanitize makes s safe as part of a file name: letters, digits, '.', '-' and '_' are kept,
// everything else (such as the '/' of subtest names) becomes '_'.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '_'
	}, s)
}

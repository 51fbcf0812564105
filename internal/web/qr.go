package web

import (
	"strconv"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// qrPath encodes content as a QR code and returns it as the "d" of one SVG path
// (a rectangle per run of dark modules in a row) and the symbol's side in modules,
// quiet zone included. Drawn inline, it needs no image source in the CSP, stays
// sharp at any zoom, and its markup holds only numbers and path commands.
func qrPath(content string) (string, int, error) {
	q, err := qrcode.New(content, qrcode.Medium)
	if err != nil {
		return "", 0, err
	}
	bits := q.Bitmap()
	var b strings.Builder
	for y, row := range bits {
		for x := 0; x < len(row); {
			if !row[x] {
				x++
				continue
			}
			start := x
			for x < len(row) && row[x] {
				x++
			}
			n := strconv.Itoa(x - start)
			b.WriteString("M" + strconv.Itoa(start) + " " + strconv.Itoa(y) + "h" + n + "v1h-" + n + "z")
		}
	}
	return b.String(), len(bits), nil
}

package main

import (
	"fmt"
	"slices"
	"strings"
)

// docs/configuration.md keeps its prose by hand; its variable tables are made
// from the settings table. Each sits between two markers:
//
//	<!-- settings:SECTION -->
//	| variable | default | meaning and validation |
//	...
//	<!-- end settings -->
//
// and updateConfigDoc rewrites what lies between them. The region
// <!-- settings:dev-ignored --> lists the variables dev mode ignores.
const (
	docBeginMark = "<!-- settings:"
	docEndMark   = "<!-- end settings -->"
	// docDevIgnored is the region listing what dev mode ignores.
	docDevIgnored = "dev-ignored"
)

// updateConfigDoc returns md with every settings region rewritten from the
// table. A region naming no section, a section without a region, and a region
// left open are errors.
func updateConfigDoc(md string) (string, error) {
	settings := allSettings()
	want := []string{docDevIgnored}
	for _, s := range settings {
		if !slices.Contains(want, s.Section) {
			want = append(want, s.Section)
		}
	}
	var out strings.Builder
	var seen []string
	rest := md
	for {
		i := strings.Index(rest, docBeginMark)
		if i < 0 {
			out.WriteString(rest)
			break
		}
		nameEnd := strings.Index(rest[i:], "-->")
		if nameEnd < 0 {
			return "", fmt.Errorf("unterminated marker %q", rest[i:min(len(rest), i+40)])
		}
		section := strings.TrimSpace(rest[i+len(docBeginMark) : i+nameEnd])
		if !slices.Contains(want, section) {
			return "", fmt.Errorf("marker %s%s -->: no setting has this section", docBeginMark, section)
		}
		if slices.Contains(seen, section) {
			return "", fmt.Errorf("marker %s%s --> appears twice", docBeginMark, section)
		}
		seen = append(seen, section)
		j := strings.Index(rest[i:], docEndMark)
		if j < 0 {
			return "", fmt.Errorf("marker %s%s --> has no %s", docBeginMark, section, docEndMark)
		}
		out.WriteString(rest[:i+nameEnd+len("-->")])
		out.WriteString("\n")
		if section == docDevIgnored {
			out.WriteString(devIgnoredDoc(settings))
		} else {
			out.WriteString(settingsDoc(settings, section))
		}
		out.WriteString(docEndMark)
		rest = rest[i+j+len(docEndMark):]
	}
	for _, s := range want {
		if !slices.Contains(seen, s) {
			return "", fmt.Errorf("no region %s%s --> ... %s for the settings of section %q", docBeginMark, s, docEndMark, s)
		}
	}
	return out.String(), nil
}

// settingsDoc is the Markdown table of the settings of section.
func settingsDoc(settings []setting, section string) string {
	var b strings.Builder
	b.WriteString("| variable | default | meaning and validation |\n|---|---|---|\n")
	for _, s := range settings {
		if s.Section == section {
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", s.Name, cell(defaultDoc(s)), cell(meaningDoc(s)))
		}
	}
	return b.String()
}

// defaultDoc is the default column: the production value and, where it
// differs, the dev-mode one.
func defaultDoc(s setting) string {
	if s.ShowDefault != "" {
		return s.ShowDefault
	}
	d := "none"
	switch {
	case s.Required != "":
		d = "required"
	case s.Default != "":
		d = "`" + s.Default + "`"
	}
	if s.DevDefault != "" {
		d += " / `" + s.DevDefault + "`"
	}
	return d
}

// meaningDoc is the meaning column: the doc, the values accepted, and what
// dev mode does with the setting.
func meaningDoc(s setting) string {
	m := s.Doc
	if b := s.Value.bounds(); b != "" {
		m += " " + b + "."
	}
	switch s.Mode {
	case always:
	case prodOnly:
		m += " Ignored in dev mode."
	case devOnly:
		m += " Setting it with dev mode off is an error."
	}
	return m
}

// devIgnoredDoc lists the variables dev mode ignores, as a paragraph.
func devIgnoredDoc(settings []setting) string {
	var names []string
	for _, s := range settings {
		if s.Mode == prodOnly {
			names = append(names, s.Name)
		}
	}
	return joinList(names, "`%s`", " and ") + ".\n"
}

// cell makes s safe in a Markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}

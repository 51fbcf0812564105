package erasure_test

import (
	"bufio"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// inventoryDoc is the page whose table lists every key authsvc writes, and the
// heading of that table's section.
const (
	inventoryDoc     = "../../docs/privacy.md"
	inventoryHeading = "### Every key, and what erasure does to it"
)

// row is one row of the key inventory: the key patterns in its first column.
type row struct {
	text     string
	patterns []*regexp.Regexp
}

// placeholders are what the inventory's <…> stand for. An id starts with its tag
// and a dash, so "v:{<tag>}:<vid>" cannot also match "v:{<tag>}:i".
var placeholders = map[string]string{
	"tag": `[^{}:]+`,
	"vid": `[^{}:-]+-[^{}:]+`,
	"eid": `[^{}:-]+-[^{}:]+`,
	"nid": `[^{}:-]+-[^{}:]+`,
}

// readInventory parses the key inventory of docs/privacy.md.
func readInventory(t *testing.T) []row {
	t.Helper()
	f, err := os.Open(filepath.FromSlash(inventoryDoc))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []row
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == inventoryHeading:
			in = true
		case in && strings.HasPrefix(line, "#"):
			in = false
		case in && strings.HasPrefix(line, "| `"):
			first := strings.Split(line, "|")[1]
			r := row{text: strings.TrimSpace(first)}
			for i, part := range strings.Split(first, "`") {
				if i%2 == 1 {
					r.patterns = append(r.patterns, keyPattern(t, part))
				}
			}
			rows = append(rows, r)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) < 10 {
		t.Fatalf("%s: %d rows under %q; the table moved?", inventoryDoc, len(rows), inventoryHeading)
	}
	return rows
}

// keyPattern turns an inventory key such as "v:{<tag>}:e:<eid>:s" into a regexp.
func keyPattern(t *testing.T, key string) *regexp.Regexp {
	t.Helper()
	var b strings.Builder
	b.WriteString("^")
	for rest := key; rest != ""; {
		i := strings.IndexByte(rest, '<')
		if i < 0 {
			b.WriteString(regexp.QuoteMeta(rest))
			break
		}
		j := strings.IndexByte(rest[i:], '>')
		if j < 0 {
			t.Fatalf("inventory key %q: unclosed <", key)
		}
		b.WriteString(regexp.QuoteMeta(rest[:i]))
		name := rest[i+1 : i+j]
		if p, ok := placeholders[name]; ok {
			b.WriteString(p)
		} else {
			b.WriteString(`[^{}:]+`)
		}
		rest = rest[i+j+1:]
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// inventory gathers the keys the flows left in Redis, from every run of testErase
// (standalone and Cluster, before and after the erasure).
type inventory struct {
	mu   sync.Mutex
	keys map[string][]string // key -> where it was seen
}

func (in *inventory) add(where string, keys []string) {
	if in == nil {
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.keys == nil {
		in.keys = map[string][]string{}
	}
	for _, k := range keys {
		in.keys[k] = append(in.keys[k], where)
	}
}

// check holds the inventory to docs/privacy.md: every key matches exactly one row,
// and every row matches some key.
func (in *inventory) check(t *testing.T) {
	rows := readInventory(t)
	used := make([]int, len(rows))
	for _, k := range slices.Sorted(maps.Keys(in.keys)) {
		var hits []int
		for i, r := range rows {
			if slices.ContainsFunc(r.patterns, func(p *regexp.Regexp) bool { return p.MatchString(k) }) {
				hits = append(hits, i)
			}
		}
		switch len(hits) {
		case 0:
			t.Errorf("key %q (%s) is in no row of %s %q", k, strings.Join(in.keys[k], ", "), inventoryDoc, inventoryHeading)
		case 1:
			used[hits[0]]++
		default:
			var texts []string
			for _, i := range hits {
				texts = append(texts, rows[i].text)
			}
			t.Errorf("key %q matches several rows: %s", k, strings.Join(texts, " / "))
		}
	}
	for i, r := range rows {
		if used[i] == 0 {
			t.Errorf("no flow made a key of the row %s: drop the row, or make the flow", r.text)
		}
	}
}

package driver

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var updateReadme = flag.Bool("update-readme", false, "rewrite the options table in README.md")

const (
	readmePath  = "../README.md"
	tableStart  = "<!-- options:start (go test ./driver -run TestReadmeOptions -update-readme) -->"
	tableFinish = "<!-- options:end -->"
)

// markdownEscaper keeps <namespace>/<name> from being read as HTML and | from ending a cell.
var markdownEscaper = strings.NewReplacer("|", "\\|", "<", "&lt;", ">", "&gt;")

// optionsTable renders the options as the README shows them, grouped as in Rancher's form.
func optionsTable() string {
	var b strings.Builder
	group := ""
	for _, o := range Options() {
		if o.Group != group {
			group = o.Group
			fmt.Fprintf(&b, "\n**%s**\n\n| option | type | default | U | |\n|---|---|---|---|---|\n", group)
		}
		def := fmt.Sprint(o.Default)
		if s, ok := o.Default.([]string); ok {
			def = strings.Join(s, ",")
		}
		if def != "" {
			def = "`" + def + "`"
		}
		mutable := ""
		if o.Mutable {
			mutable = "U"
		}
		usage := o.Usage
		if o.Secret {
			usage += " (secret)"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", o.Name, o.Type, def, mutable, markdownEscaper.Replace(usage))
	}
	return b.String()
}

// The README documents every option with its default, generated from the same table as Rancher's
// schema so the two cannot drift.
func TestReadmeOptions(t *testing.T) {
	raw, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	start, end := strings.Index(readme, tableStart), strings.Index(readme, tableFinish)
	if start < 0 || end < start {
		t.Fatalf("README.md lacks the %q ... %q markers", tableStart, tableFinish)
	}
	want := tableStart + "\n" + optionsTable() + "\n"
	if *updateReadme {
		readme = readme[:start] + want + readme[end:]
		if err := os.WriteFile(readmePath, []byte(readme), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if readme[start:end] != want {
		t.Errorf("README.md's options table is stale: run go test ./driver -run TestReadmeOptions -update-readme")
	}
}

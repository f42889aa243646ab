package driver

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/rancher/kontainer-engine/types"
)

// Problem is one invalid option and what is allowed instead.
type Problem struct {
	Option  string
	Message string
}

// OptionsError reports every invalid option of a request at once.
type OptionsError struct {
	Problems []Problem
}

func (e *OptionsError) Error() string {
	var b strings.Builder
	if len(e.Problems) == 1 {
		b.WriteString("invalid option ")
	} else {
		fmt.Fprintf(&b, "%d invalid options: ", len(e.Problems))
	}
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %s", p.Option, p.Message)
	}
	return b.String()
}

// optionReader reads typed values under an option's kebab-case key or its camelCase alias, falls
// back to the declared default, and collects problems instead of stopping at the first one.
type optionReader struct {
	opts     *types.DriverOptions
	defaults map[string]interface{}
	problems []Problem
}

func newOptionReader(opts *types.DriverOptions) *optionReader {
	if opts == nil {
		opts = &types.DriverOptions{}
	}
	r := &optionReader{opts: opts, defaults: map[string]interface{}{}}
	for _, o := range Options() {
		r.defaults[o.Name] = o.Default
	}
	return r
}

func (r *optionReader) problem(option, format string, args ...interface{}) {
	r.problems = append(r.problems, Problem{Option: option, Message: fmt.Sprintf(format, args...)})
}

func (r *optionReader) err() error {
	if len(r.problems) == 0 {
		return nil
	}
	// Stable order makes messages comparable across calls and easy to scan.
	sort.SliceStable(r.problems, func(i, j int) bool { return r.problems[i].Option < r.problems[j].Option })
	return &OptionsError{Problems: r.problems}
}

func (r *optionReader) keys(name string) []string {
	if c := camelCase(name); c != name {
		return []string{name, c}
	}
	return []string{name}
}

// str returns the trimmed string value; an empty value counts as unset.
func (r *optionReader) str(name string) string {
	for _, k := range r.keys(name) {
		if v, ok := r.opts.StringOptions[k]; ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
	}
	s, _ := r.defaults[name].(string)
	return s
}

func (r *optionReader) integer(name string) int64 {
	for _, k := range r.keys(name) {
		if v, ok := r.opts.IntOptions[k]; ok {
			return v
		}
	}
	i, _ := r.defaults[name].(int64)
	return i
}

// givenBool reports whether the options carry the boolean option at all.
func (r *optionReader) givenBool(name string) bool {
	for _, k := range r.keys(name) {
		if _, ok := r.opts.BoolOptions[k]; ok {
			return true
		}
	}
	return false
}

func (r *optionReader) boolean(name string) bool {
	for _, k := range r.keys(name) {
		if v, ok := r.opts.BoolOptions[k]; ok {
			return v
		}
	}
	b, _ := r.defaults[name].(bool)
	return b
}

// slice returns the non-empty trimmed elements.
func (r *optionReader) slice(name string) []string {
	for _, k := range r.keys(name) {
		if v, ok := r.opts.StringSliceOptions[k]; ok && v != nil {
			var out []string
			for _, s := range v.Value {
				if s = strings.TrimSpace(s); s != "" {
					out = append(out, s)
				}
			}
			return out
		}
	}
	d, _ := r.defaults[name].([]string)
	return append([]string(nil), d...)
}

// text returns content given either as is or base64-encoded; looksPlain tells the two apart.
func (r *optionReader) text(name string, looksPlain func(string) bool) string {
	v := r.str(name)
	if v == "" || looksPlain(v) {
		return v
	}
	decoded, err := decodeBase64(v)
	if err != nil || !utf8.Valid(decoded) || !looksPlain(string(decoded)) {
		r.problem(name, "is neither the expected content nor its base64 encoding")
		return ""
	}
	return string(decoded)
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.Join(strings.Fields(s), "")
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

package docker

import (
	"regexp"
	"slices"
	"strings"
)

const (
	maskedKey    = "[private key masked]"
	maskedSecret = "***"
)

var (
	keyBegin = regexp.MustCompile(`-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----`)
	keyEnd   = regexp.MustCompile(`-----END [A-Z0-9 ]*PRIVATE KEY-----`)
	// base64 of "-----BEGIN" and what follows: keys are often passed base64-encoded.
	keyBase64 = regexp.MustCompile(`LS0tLS1CRUdJTi[A-Za-z0-9+/=]*`)
)

// masker hides private keys and known secrets in a stream of lines. It is stateful: the lines
// inside a multi-line key block are masked as well.
type masker struct {
	secrets []string // longest first, so a secret containing another is masked whole
	inKey   bool
}

func newMasker(secrets []string) *masker {
	var s []string
	for _, v := range secrets {
		if v != "" {
			s = append(s, v)
		}
	}
	slices.SortFunc(s, func(a, b string) int { return len(b) - len(a) })
	return &masker{secrets: s}
}

func (m *masker) line(s string) string {
	var out strings.Builder
	for s != "" {
		if m.inKey {
			out.WriteString(maskedKey)
			end := keyEnd.FindStringIndex(s)
			if end == nil {
				break
			}
			m.inKey = false
			s = s[end[1]:]
			continue
		}
		begin := keyBegin.FindStringIndex(s)
		if begin == nil {
			out.WriteString(s)
			break
		}
		out.WriteString(s[:begin[0]])
		s = s[begin[0]:]
		m.inKey = true
	}
	r := keyBase64.ReplaceAllString(out.String(), maskedKey)
	for _, secret := range m.secrets {
		r = strings.ReplaceAll(r, secret, maskedSecret)
	}
	return r
}

// text masks every line of a multi-line string.
func (m *masker) text(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = m.line(l)
	}
	return strings.Join(lines, "\n")
}

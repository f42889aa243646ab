package logtail

import (
	"slices"
	"strings"
	"testing"
)

func TestLast(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"", 3, ""},
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb\n\n\n", 5, "a\nb"},
		{"only", 1, "only"},
	}
	for _, tc := range tests {
		if got := Last(tc.s, tc.n); got != tc.want {
			t.Errorf("Last(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

func TestLines(t *testing.T) {
	tests := []struct {
		writes []string
		want   []string
	}{
		{nil, nil},
		{[]string{"a\nb\n"}, []string{"a", "b"}},
		{[]string{"par", "tial\nrest"}, []string{"partial"}}, // an unfinished line waits for its end
		{[]string{"\n\n"}, []string{"", ""}},
	}
	for _, tc := range tests {
		var out strings.Builder
		var got []string
		w := Lines(&out, func(l string) { got = append(got, l) })
		for _, s := range tc.writes {
			if _, err := w.Write([]byte(s)); err != nil {
				t.Fatal(err)
			}
		}
		if !slices.Equal(got, tc.want) || out.String() != strings.Join(tc.writes, "") {
			t.Errorf("writes %q: lines %q, copied %q", tc.writes, got, out.String())
		}
	}
}

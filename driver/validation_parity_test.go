package driver

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"testing"

	"github.com/rancher/kontainer-engine/types"
)

// validationTable is testdata/validation-cases.json: the cases the driver's parser and the cluster
// form's validator (ui/test/validation-parity.test.ts) must both decide the same way.
type validationTable struct {
	Base        map[string]interface{} `json:"base"`
	AlwaysValid []string               `json:"alwaysValid"`
	Cases       []validationCase       `json:"cases"`
}

type validationCase struct {
	Option   string                 `json:"option"`
	Valid    bool                   `json:"valid"`
	Values   map[string]interface{} `json:"values"`
	Problems []string               `json:"problems"`
	Note     string                 `json:"note"`
}

func (c validationCase) name() string {
	verdict := "invalid"
	if c.Valid {
		verdict = "valid"
	}
	if c.Note != "" {
		return fmt.Sprintf("%s/%s/%s", c.Option, verdict, c.Note)
	}
	return fmt.Sprintf("%s/%s/%v", c.Option, verdict, c.Values[c.Option])
}

// wantProblems is the options an invalid case's problems must name, sorted as OptionsError sorts them.
func (c validationCase) wantProblems() []string {
	if c.Valid {
		return nil
	}
	want := c.Problems
	if len(want) == 0 {
		want = []string{c.Option}
	}
	return slices.Sorted(slices.Values(want))
}

func readValidationTable(t *testing.T) validationTable {
	t.Helper()
	data, err := os.ReadFile("testdata/validation-cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var table validationTable
	if err := json.Unmarshal(data, &table); err != nil {
		t.Fatalf("testdata/validation-cases.json: %v", err)
	}
	return table
}

// driverOptions turns the table's JSON values into what Rancher sends: JSON numbers are ints,
// arrays string slices; null leaves the option out.
func driverOptions(t *testing.T, values ...map[string]interface{}) *types.DriverOptions {
	t.Helper()
	merged := map[string]interface{}{}
	for _, v := range values {
		for k, x := range v {
			merged[k] = x
		}
	}
	opts := &types.DriverOptions{
		StringOptions:      map[string]string{},
		IntOptions:         map[string]int64{},
		BoolOptions:        map[string]bool{},
		StringSliceOptions: map[string]*types.StringSlice{},
	}
	for k, x := range merged {
		switch v := x.(type) {
		case nil:
		case string:
			opts.StringOptions[k] = v
		case float64:
			opts.IntOptions[k] = int64(v)
		case bool:
			opts.BoolOptions[k] = v
		case []interface{}:
			s := &types.StringSlice{}
			for _, e := range v {
				s.Value = append(s.Value, e.(string))
			}
			opts.StringSliceOptions[k] = s
		default:
			t.Fatalf("option %s: unsupported JSON value %T", k, x)
		}
	}
	return opts
}

func TestValidationParityTable(t *testing.T) {
	table := readValidationTable(t)
	if _, err := ParseOptions(driverOptions(t, table.Base)); err != nil {
		t.Fatalf("the base of the table must be valid: %v", err)
	}
	for _, c := range table.Cases {
		t.Run(c.name(), func(t *testing.T) {
			_, err := ParseOptions(driverOptions(t, table.Base, c.Values))
			var got []string
			var oe *OptionsError
			if errors.As(err, &oe) {
				for _, p := range oe.Problems {
					if !slices.Contains(got, p.Option) {
						got = append(got, p.Option)
					}
				}
			} else if err != nil {
				t.Fatalf("want nil or *OptionsError, got %T: %v", err, err)
			}
			sort.Strings(got)
			if want := c.wantProblems(); !slices.Equal(got, want) {
				t.Errorf("problems about %v, the table says %v (error: %v)", got, want, err)
			}
		})
	}
}

// The table must keep up with the schema: every option has a valid case and, unless it has no
// invalid value at all, an invalid one.
func TestValidationParityTableCoversEveryOption(t *testing.T) {
	table := readValidationTable(t)
	valid, invalid := map[string]bool{}, map[string]bool{}
	for _, c := range table.Cases {
		if c.Valid {
			valid[c.Option] = true
		} else {
			invalid[c.Option] = true
		}
	}
	known := map[string]bool{}
	for _, o := range Options() {
		known[o.Name] = true
		if !valid[o.Name] {
			t.Errorf("option %s has no valid case in testdata/validation-cases.json", o.Name)
		}
		if !invalid[o.Name] && !slices.Contains(table.AlwaysValid, o.Name) {
			t.Errorf("option %s has no invalid case in testdata/validation-cases.json (or list it under alwaysValid)", o.Name)
		}
		if invalid[o.Name] && slices.Contains(table.AlwaysValid, o.Name) {
			t.Errorf("option %s is listed under alwaysValid but has invalid cases", o.Name)
		}
	}
	for _, c := range table.Cases {
		if !known[c.Option] {
			t.Errorf("a case is about %q, which is not an option of the schema", c.Option)
		}
	}
}

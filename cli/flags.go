package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/rancher/kontainer-engine/types"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/driver"
)

// envPrefix makes an option's environment variable, as the docker-machine driver does:
// kubeconfig-content -> HARVESTER_KUBECONFIG_CONTENT.
const envPrefix = "HARVESTER_"

func envName(option string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(option, "-", "_"))
}

// optionFlags are driver options as command-line flags. Only options given on the command line or
// in the environment end up in the DriverOptions, so they can be merged over stored ones.
type optionFlags struct {
	opts []driver.Option
	set  map[string]*optionValue
}

// optionValue is one option's flag.Value; it remembers whether it was given.
type optionValue struct {
	opt   driver.Option
	given bool
	str   string
	num   int64
	on    bool
	list  []string
}

func (v *optionValue) String() string {
	if v == nil {
		return ""
	}
	switch v.opt.Type {
	case types.IntType:
		return strconv.FormatInt(v.num, 10)
	case types.BoolType:
		return strconv.FormatBool(v.on)
	case types.StringSliceType:
		return strings.Join(v.list, ",")
	}
	if v.opt.Secret {
		return "" // flag's error messages quote String(): a secret must never show there
	}
	return v.str
}

func (v *optionValue) Set(s string) error {
	switch v.opt.Type {
	case types.IntType:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return errors.New("want a whole number")
		}
		v.num = n
	case types.BoolType:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return errors.New("want true or false")
		}
		v.on = b
	case types.StringSliceType:
		// Repeatable: every occurrence adds one value (values may contain commas, e.g. JSON).
		v.list = append(v.list, s)
	default:
		v.str = s
	}
	v.given = true
	return nil
}

// IsBoolFlag lets bool options be given as a bare --flag.
func (v *optionValue) IsBoolFlag() bool { return v.opt.Type == types.BoolType }

// addOptionFlags defines a flag per option on fs. The cluster name is the command's argument, not
// a flag.
func addOptionFlags(fs *flag.FlagSet, opts []driver.Option) *optionFlags {
	f := &optionFlags{set: map[string]*optionValue{}}
	for _, o := range opts {
		if o.Name == "name" {
			continue
		}
		v := &optionValue{opt: o}
		f.opts = append(f.opts, o)
		f.set[o.Name] = v
		fs.Var(v, o.Name, o.Usage)
	}
	return f
}

// fromEnv fills options not given as flags from HARVESTER_* variables. A string-slice variable
// holds comma-separated values (docker-machine's convention); a value containing a comma needs
// the repeatable flag.
func (f *optionFlags) fromEnv(getenv func(string) string) error {
	var problems []string
	for _, o := range f.opts {
		v := f.set[o.Name]
		val := getenv(envName(o.Name))
		if v.given || val == "" {
			continue
		}
		var err error
		if o.Type == types.StringSliceType {
			for _, item := range strings.Split(val, ",") {
				err = errors.Join(err, v.Set(item))
			}
		} else {
			err = v.Set(val)
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", envName(o.Name), err))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", errUsage, strings.Join(problems, "; "))
	}
	return nil
}

// given returns the options set by flags or the environment.
func (f *optionFlags) given() *types.DriverOptions {
	out := emptyOptions()
	for name, v := range f.set {
		if !v.given {
			continue
		}
		switch v.opt.Type {
		case types.IntType:
			out.IntOptions[name] = v.num
		case types.BoolType:
			out.BoolOptions[name] = v.on
		case types.StringSliceType:
			out.StringSliceOptions[name] = &types.StringSlice{Value: v.list}
		default:
			out.StringOptions[name] = v.str
		}
	}
	return out
}

func emptyOptions() *types.DriverOptions {
	return &types.DriverOptions{StringOptions: map[string]string{}, IntOptions: map[string]int64{},
		BoolOptions: map[string]bool{}, StringSliceOptions: map[string]*types.StringSlice{}}
}

// merge returns base with over's options replacing base's.
func merge(base, over *types.DriverOptions) *types.DriverOptions {
	out := emptyOptions()
	for _, o := range []*types.DriverOptions{base, over} {
		if o == nil {
			continue
		}
		for k, v := range o.StringOptions {
			out.StringOptions[k] = v
		}
		for k, v := range o.IntOptions {
			out.IntOptions[k] = v
		}
		for k, v := range o.BoolOptions {
			out.BoolOptions[k] = v
		}
		for k, v := range o.StringSliceOptions {
			out.StringSliceOptions[k] = v
		}
	}
	return out
}

// printOptionHelp lists options by group with their type, default and environment variable.
// Secret options never show a default (they have none) and say to prefer the environment.
func printOptionHelp(w io.Writer, opts []driver.Option) {
	group := ""
	for _, o := range opts {
		if o.Name == "name" {
			continue
		}
		if o.Group != group {
			group = o.Group
			fmt.Fprintf(w, "\n%s:\n", group)
		}
		kind := map[string]string{types.StringType: " string", types.IntType: " int", types.StringSliceType: " value (repeatable)"}[o.Type]
		fmt.Fprintf(w, "  --%s%s\n", o.Name, kind)
		fmt.Fprintf(w, "      %s\n", o.Usage)
		var notes []string
		if d := defaultText(o); d != "" {
			notes = append(notes, "default "+d)
		}
		env := "env " + envName(o.Name)
		if o.Secret {
			env += " (secret: prefer the environment to the command line)"
		}
		notes = append(notes, env)
		fmt.Fprintf(w, "      [%s]\n", strings.Join(notes, "; "))
	}
}

func defaultText(o driver.Option) string {
	switch d := o.Default.(type) {
	case string:
		if d != "" {
			return strconv.Quote(d)
		}
	case int64:
		return strconv.FormatInt(d, 10)
	case bool:
		if d {
			return "true"
		}
	}
	return ""
}

// parseArgs parses flags anywhere among the arguments (`create NAME --image x` as well as
// `create --image x NAME`). After stopAfter positional arguments (or "--") the rest is returned
// untouched, e.g. the command of ssh; stopAfter < 0 parses everything.
func parseArgs(fs *flag.FlagSet, args []string, stopAfter int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %s: %v", errUsage, fs.Name(), err)
		}
		rest := fs.Args()
		consumed := len(args) - len(rest)
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
		if stopAfter >= 0 && len(pos) == stopAfter {
			return append(pos, args...), nil
		}
	}
}

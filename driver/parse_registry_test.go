package driver

import (
	"context"
	"encoding/base64"
	"reflect"
	"strings"
	"testing"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision"
)

func TestParseRegistry(t *testing.T) {
	ca, _, key := testPKI(t)
	otherCA, _, _ := testPKI(t)
	bundle := string(ca) + string(otherCA)
	for _, tc := range []struct {
		name     string
		values   map[string]string
		want     provision.Registry
		problems []string
	}{
		{name: "none"},
		{name: "anonymous", values: map[string]string{optRegistryURL: "registry.example.com"},
			want: provision.Registry{URL: "registry.example.com"}},
		{name: "everything", values: map[string]string{optRegistryURL: "registry.example.com:5000", optRegistryUser: "puller",
			optRegistryPass: "s3cret", optRegistryCA: string(ca)},
			want: provision.Registry{URL: "registry.example.com:5000", Username: "puller", Password: "s3cret", CACert: ca}},
		{name: "base64 CA bundle", values: map[string]string{optRegistryURL: "10.0.0.5:5000", optRegistryCA: base64.StdEncoding.EncodeToString([]byte(bundle))},
			want: provision.Registry{URL: "10.0.0.5:5000", CACert: []byte(bundle)}},
		{name: "CA with text around it", values: map[string]string{optRegistryURL: "localhost", optRegistryCA: "our CA:\n" + string(ca) + "\nthe end"},
			want: provision.Registry{URL: "localhost", CACert: ca}},
		{name: "scheme", values: map[string]string{optRegistryURL: "https://registry.example.com"}, problems: []string{optRegistryURL}},
		{name: "path", values: map[string]string{optRegistryURL: "registry.example.com/rancher"}, problems: []string{optRegistryURL}},
		{name: "bad port", values: map[string]string{optRegistryURL: "registry.example.com:70000"}, problems: []string{optRegistryURL}},
		{name: "dotless name", values: map[string]string{optRegistryURL: "registry"}, problems: []string{optRegistryURL}},
		{name: "dot dot", values: map[string]string{optRegistryURL: "..:5000"}, problems: []string{optRegistryURL}},
		{name: "too long", values: map[string]string{optRegistryURL: strings.Repeat("a.", 127) + "ab"}, problems: []string{optRegistryURL}},
		{name: "user without password", values: map[string]string{optRegistryURL: "r.example.com", optRegistryUser: "puller"}, problems: []string{optRegistryPass}},
		{name: "password without user", values: map[string]string{optRegistryURL: "r.example.com", optRegistryPass: "s3cret"}, problems: []string{optRegistryUser}},
		{name: "colon in user", values: map[string]string{optRegistryURL: "r.example.com", optRegistryUser: "a:b", optRegistryPass: "s3cret"}, problems: []string{optRegistryUser}},
		{name: "credentials and CA without URL", values: map[string]string{optRegistryUser: "puller", optRegistryPass: "s3cret", optRegistryCA: string(ca)},
			problems: []string{optRegistryCA, optRegistryPass, optRegistryUser}},
		{name: "CA not PEM", values: map[string]string{optRegistryURL: "r.example.com", optRegistryCA: "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----"}, problems: []string{optRegistryCA}},
		{name: "CA not a certificate", values: map[string]string{optRegistryURL: "r.example.com", optRegistryCA: string(ca) + string(key)}, problems: []string{optRegistryCA}},
		{name: "CA neither PEM nor base64", values: map[string]string{optRegistryURL: "r.example.com", optRegistryCA: "hello"}, problems: []string{optRegistryCA}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := validOptions()
			for k, v := range tc.values {
				opts.StringOptions[k] = v
			}
			spec, err := ParseOptions(opts)
			if len(tc.problems) > 0 {
				if got := problemOptions(t, err); !reflect.DeepEqual(got, tc.problems) {
					t.Fatalf("problems about %v, want %v (%v)", got, tc.problems, err)
				}
				if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "PRIVATE KEY") {
					t.Errorf("the error quotes a secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(spec.Registry, tc.want) {
				t.Errorf("registry %+v, want %+v", spec.Registry, tc.want)
			}
		})
	}
}

// Rancher leaves the password out of Update requests: the stored one is kept for the same registry
// and user only, and a change of either is refused.
func TestRegistryPasswordOnUpdate(t *testing.T) {
	created := validOptions()
	created.StringOptions[optRegistryURL] = "registry.example.com"
	created.StringOptions[optRegistryUser] = "puller"
	created.StringOptions[optRegistryPass] = "stored"
	prev, err := ParseOptions(created)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name         string
		url, user    string
		password     string
		wantPassword string
		problems     []string
	}{
		{name: "left out", url: "registry.example.com", user: "puller", wantPassword: "stored"},
		{name: "given again", url: "registry.example.com", user: "puller", password: "stored", wantPassword: "stored"},
		{name: "another registry", url: "evil.example.com", user: "puller", problems: []string{optRegistryPass}},
		{name: "another user", url: "registry.example.com", user: "other", problems: []string{optRegistryPass}},
		{name: "changed", url: "registry.example.com", user: "puller", password: "new", wantPassword: "new", problems: []string{optRegistryPass}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := validOptions()
			opts.StringOptions[optRegistryURL] = tc.url
			opts.StringOptions[optRegistryUser] = tc.user
			opts.StringOptions[optRegistryPass] = tc.password
			spec, err := parseOptions(opts, &prev)
			if err == nil {
				err = immutableChanges(prev, spec)
			}
			var got []string
			if err != nil {
				got = problemOptions(t, err)
				if strings.Contains(err.Error(), "stored") || strings.Contains(err.Error(), "new") {
					t.Errorf("the error quotes a password: %v", err)
				}
			}
			if !reflect.DeepEqual(got, tc.problems) {
				t.Fatalf("problems about %v, want %v (%v)", got, tc.problems, err)
			}
			if tc.problems == nil && spec.Registry.Password != tc.wantPassword {
				t.Errorf("password %q, want %q", spec.Registry.Password, tc.wantPassword)
			}
		})
	}
}

// A changed CA is reported by digest, not by its whole PEM.
func TestRegistryCAChangeIsShort(t *testing.T) {
	ca, _, _ := testPKI(t)
	otherCA, _, _ := testPKI(t)
	old := provision.Spec{Registry: provision.Registry{URL: "r.example.com", CACert: ca}}
	spec := provision.Spec{Registry: provision.Registry{URL: "r.example.com", CACert: otherCA}}
	err := immutableChanges(old, spec)
	if got := problemOptions(t, err); !reflect.DeepEqual(got, []string{optRegistryCA}) || strings.Contains(err.Error(), "BEGIN") || !strings.Contains(err.Error(), "sha256:") {
		t.Errorf("%v", err)
	}
}

// Through the saved state: an Update without the password, as Rancher sends it, builds with the
// stored one.
func TestUpdateKeepsTheRegistryPassword(t *testing.T) {
	p := &fakeProvisioner{}
	d := New(p)
	opts := validOptions()
	opts.StringOptions[optRegistryURL] = "registry.example.com"
	opts.StringOptions["privateRegistryUsername"] = "puller"
	opts.StringOptions["privateRegistryPassword"] = "s3cret"
	info, err := d.Create(context.Background(), opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	delete(opts.StringOptions, "kubeconfig-content") // Rancher strips password fields
	delete(opts.StringOptions, "privateRegistryPassword")
	opts.IntOptions["workerCount"] = 4
	if _, err := d.Update(context.Background(), info, opts); err != nil {
		t.Fatal(err)
	}
	want := provision.Registry{URL: "registry.example.com", Username: "puller", Password: "s3cret"}
	if len(p.updates) != 1 || !reflect.DeepEqual(p.updates[0].Registry, want) {
		t.Fatalf("update's registry = %+v, want %+v", p.updates, want)
	}
}

package provision

import (
	"testing"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/ssh"
)

func testKeys(t *testing.T) clusterKeys {
	t.Helper()
	key, err := ssh.GenerateClientKey("test")
	if err != nil {
		t.Fatal(err)
	}
	seed, err := ssh.NewHostKeySeed()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := clusterKeys{clientPEM: key.PrivatePEM, seed: seed}.parse()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// Strict host keys: the key injected through cloud-init is the one the endpoint expects.
func TestLoginAndEndpointAgree(t *testing.T) {
	keys := testKeys(t)
	login := keys.login(SSH{User: "ubuntu"})
	if login.User != "ubuntu" || len(login.AuthorizedKeys) != 1 || login.HostKey == nil {
		t.Fatalf("login = %+v", login)
	}
	injected, err := login.HostKey("c-worker-1")
	if err != nil {
		t.Fatal(err)
	}
	ep, err := keys.endpoint(SSH{User: "ubuntu"}, Node{Name: "c-worker-1", Address: "10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if ssh.MarshalPublicKey(ep.HostKey) != injected.AuthorizedKey {
		t.Fatalf("endpoint expects %s, cloud-init injects %s", ssh.MarshalPublicKey(ep.HostKey), injected.AuthorizedKey)
	}
	other, _ := keys.endpoint(SSH{User: "ubuntu"}, Node{Name: "c-worker-2", Address: "10.0.0.2"})
	if ssh.MarshalPublicKey(other.HostKey) == injected.AuthorizedKey {
		t.Fatal("two nodes share a host key")
	}
}

// Trust on first use injects no host key and expects none until one is recorded.
func TestTrustOnFirstUse(t *testing.T) {
	keys := testKeys(t)
	tofu := SSH{User: "ubuntu", TrustOnFirstUse: true}
	if keys.login(tofu).HostKey != nil {
		t.Fatal("host key injected despite trust on first use")
	}
	ep, err := keys.endpoint(tofu, Node{Name: "n", Address: "10.0.0.1"})
	if err != nil || ep.HostKey != nil {
		t.Fatalf("unrecorded node: %v %v", ep.HostKey, err)
	}
	recorded := keys.login(SSH{User: "ubuntu"}) // any valid key will do as the recorded one
	hk, _ := recorded.HostKey("n")
	ep, err = keys.endpoint(tofu, Node{Name: "n", Address: "10.0.0.1", HostKey: hk.AuthorizedKey})
	if err != nil || ssh.MarshalPublicKey(ep.HostKey) != hk.AuthorizedKey {
		t.Fatalf("recorded key not expected: %v", err)
	}
}

package addons

import "testing"

func TestComponents(t *testing.T) {
	var i Images
	if len(Components) != len(i.fields()) {
		t.Fatalf("%d component names for %d images", len(Components), len(i.fields()))
	}
	for k, name := range Components {
		*i.Component(name) = "img-" + name
		if *i.fields()[k] != "img-"+name {
			t.Errorf("component %s sets another image", name)
		}
	}
	if i.Component("no-such") != nil {
		t.Error("an unknown component has an image")
	}
	if got := i.ByComponent(); len(got) != len(Components) || got["kube-vip"] != "img-kube-vip" {
		t.Errorf("ByComponent = %v", got)
	}
}

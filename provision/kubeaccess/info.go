package kubeaccess

import (
	"context"
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/kubernetes"
)

// Version is the API server's gitVersion, such as v1.32.7.
func Version(ctx context.Context, cs kubernetes.Interface) (string, error) {
	var info version.Info
	err := retry(ctx, "read the server version", func(ctx context.Context) error {
		rc := cs.Discovery().RESTClient()
		if rc == nil { // fake clientsets have no REST client, and answer at once
			v, err := cs.Discovery().ServerVersion()
			if err == nil {
				info = *v
			}
			return err
		}
		raw, err := rc.Get().AbsPath("/version").Do(ctx).Raw()
		if err != nil {
			return err
		}
		return json.Unmarshal(raw, &info)
	})
	if err != nil {
		return "", err
	}
	if info.GitVersion == "" {
		return "", fmt.Errorf("read the server version: empty answer")
	}
	return info.GitVersion, nil
}

// NodeCount is the number of nodes registered in the cluster.
func NodeCount(ctx context.Context, cs kubernetes.Interface) (int, error) {
	var n int
	err := retry(ctx, "list nodes", func(ctx context.Context) error {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err == nil {
			n = len(nodes.Items)
		}
		return err
	})
	return n, err
}

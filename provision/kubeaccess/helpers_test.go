package kubeaccess

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rancher/rke/log"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// fastRetries shrinks the backoff so retry tests take milliseconds.
func fastRetries(t *testing.T, steps int) {
	t.Helper()
	saved := retryBackoff
	retryBackoff = wait.Backoff{Duration: time.Millisecond, Factor: 1, Steps: steps}
	t.Cleanup(func() { retryBackoff = saved })
}

// recordingLogger keeps everything logged, to check that no secret is.
type recordingLogger struct {
	mu    sync.Mutex
	lines []string
}

func (l *recordingLogger) add(msg string, args ...interface{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(msg, args...))
}
func (l *recordingLogger) Debugf(msg string, args ...interface{}) { l.add(msg, args...) }
func (l *recordingLogger) Infof(msg string, args ...interface{})  { l.add(msg, args...) }
func (l *recordingLogger) Warnf(msg string, args ...interface{})  { l.add(msg, args...) }

func (l *recordingLogger) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Contains(strings.Join(l.lines, "\n"), s)
}

func loggingContext(t *testing.T) (context.Context, *recordingLogger) {
	l := &recordingLogger{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return log.SetLogger(ctx, l), l
}

// tokenController does what kube-controller-manager's token controller does for the fake
// clientset: it fills service-account token Secrets, after a delay so the wait sees an update.
func tokenController(t *testing.T, cs kubernetes.Interface, token string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := cs.CoreV1().Secrets(Namespace).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); w.Stop(); <-done })
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			s, ok := ev.Object.(*corev1.Secret)
			if !ok || ev.Type != watch.Added || s.Type != corev1.SecretTypeServiceAccountToken || len(s.Data["token"]) > 0 {
				continue
			}
			time.Sleep(20 * time.Millisecond) // the controller answers some time after the create
			s = s.DeepCopy()
			s.Data = map[string][]byte{"token": []byte(token), "ca.crt": []byte("ca")}
			if _, err := cs.CoreV1().Secrets(Namespace).Update(ctx, s, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
				t.Errorf("token controller: %v", err)
			}
		}
	}()
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

package kubeaccess

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/internal/kwatch"
)

const testToken = "eyJhbGciOiJSUzI1NiJ9.test-token-value"

func TestServiceAccountTokenTwice(t *testing.T) {
	cs := fake.NewClientset()
	tokenController(t, cs, testToken)
	ctx, logs := loggingContext(t)

	for run := 1; run <= 2; run++ {
		token, err := ServiceAccountToken(ctx, cs)
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if token != testToken {
			t.Fatalf("run %d: wrong token", run)
		}
		assertObjects(t, ctx, cs)
	}
	if logs.contains(testToken) {
		t.Error("the token was logged")
	}
}

// assertObjects checks that exactly one of each object exists, as ServiceAccountToken wants it.
func assertObjects(t *testing.T, ctx context.Context, cs kubernetes.Interface) {
	t.Helper()
	nss, _ := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	sas, _ := cs.CoreV1().ServiceAccounts(Namespace).List(ctx, metav1.ListOptions{})
	crbs, _ := cs.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{})
	secrets, _ := cs.CoreV1().Secrets(Namespace).List(ctx, metav1.ListOptions{})
	if len(nss.Items) != 1 || len(sas.Items) != 1 || len(crbs.Items) != 1 || len(secrets.Items) != 1 {
		t.Fatalf("objects: %d namespaces, %d service accounts, %d bindings, %d secrets; want one each",
			len(nss.Items), len(sas.Items), len(crbs.Items), len(secrets.Items))
	}
	crb := crbs.Items[0]
	if crb.Name != ClusterRoleBinding || crb.RoleRef.Name != "cluster-admin" || crb.RoleRef.Kind != "ClusterRole" ||
		len(crb.Subjects) != 1 || crb.Subjects[0].Name != ServiceAccountName || crb.Subjects[0].Namespace != Namespace {
		t.Errorf("binding = %+v", crb)
	}
	s := secrets.Items[0]
	if s.Name != TokenSecretName || s.Type != corev1.SecretTypeServiceAccountToken ||
		s.Annotations[corev1.ServiceAccountNameKey] != ServiceAccountName {
		t.Errorf("secret %s of type %s annotated %v", s.Name, s.Type, s.Annotations)
	}
}

func TestServiceAccountTokenRepairsBinding(t *testing.T) {
	tests := []struct {
		name     string
		existing *rbacv1.ClusterRoleBinding
	}{
		{"wrong role", &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: ClusterRoleBinding},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: ServiceAccountName, Namespace: Namespace}},
		}},
		{"missing subject", &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: ClusterRoleBinding},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fake.NewClientset(tt.existing)
			tokenController(t, cs, testToken)
			ctx, _ := loggingContext(t)
			if _, err := ServiceAccountToken(ctx, cs); err != nil {
				t.Fatal(err)
			}
			assertObjects(t, ctx, cs)
		})
	}
}

func TestServiceAccountTokenExistingToken(t *testing.T) {
	filled := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: TokenSecretName, Namespace: Namespace,
			Annotations: map[string]string{corev1.ServiceAccountNameKey: ServiceAccountName}},
		Type: corev1.SecretTypeServiceAccountToken,
		Data: map[string][]byte{"token": []byte(testToken)},
	}
	cs := fake.NewClientset(filled) // no token controller: the token must be read, not awaited
	saved := tokenWait
	tokenWait = time.Second
	t.Cleanup(func() { tokenWait = saved })
	ctx, _ := loggingContext(t)
	token, err := ServiceAccountToken(ctx, cs)
	if err != nil || token != testToken {
		t.Fatalf("token wrong, err %v", err)
	}
}

func TestServiceAccountTokenRetriesTransientErrors(t *testing.T) {
	fastRetries(t, 5)
	for name, failure := range map[string]error{
		"connection refused":  &netOpError{syscall.ECONNREFUSED},
		"service unavailable": apierrors.NewServiceUnavailable("starting"),
		"internal error":      apierrors.NewInternalError(errors.New("etcd leader changed")),
		"server timeout":      apierrors.NewServerTimeout(schema.GroupResource{Resource: "namespaces"}, "create", 1),
		"too many requests":   apierrors.NewTooManyRequests("slow down", 1),
	} {
		t.Run(name, func(t *testing.T) {
			cs := fake.NewClientset()
			tokenController(t, cs, testToken)
			calls := failTimes(cs, "create", "namespaces", 2, failure)
			ctx, _ := loggingContext(t)
			if _, err := ServiceAccountToken(ctx, cs); err != nil {
				t.Fatal(err)
			}
			if *calls != 3 {
				t.Errorf("%d namespace creates, want 3", *calls)
			}
			assertObjects(t, ctx, cs)
		})
	}
}

func TestServiceAccountTokenFails(t *testing.T) {
	fastRetries(t, 3)
	tests := []struct {
		name      string
		verb, res string
		failure   error
		calls     int
		want      string
	}{
		{"forbidden is final", "create", "serviceaccounts",
			apierrors.NewForbidden(schema.GroupResource{Resource: "serviceaccounts"}, ServiceAccountName, errors.New("no")), 1,
			"create service account cattle-system/kontainer-engine: serviceaccounts \"kontainer-engine\" is forbidden"},
		{"transient errors run out", "create", "clusterrolebindings", apierrors.NewServiceUnavailable("down"), 3,
			"bind kontainer-engine to cluster-admin: down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fake.NewClientset()
			calls := failTimes(cs, tt.verb, tt.res, 100, tt.failure)
			ctx, _ := loggingContext(t)
			_, err := ServiceAccountToken(ctx, cs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want %q", err, tt.want)
			}
			if *calls != tt.calls {
				t.Errorf("%d calls, want %d", *calls, tt.calls)
			}
		})
	}
}

func TestServiceAccountTokenWaitIsBounded(t *testing.T) {
	saved := tokenWait
	tokenWait = 300 * time.Millisecond
	t.Cleanup(func() { tokenWait = saved })
	cs := fake.NewClientset() // no token controller
	ctx, _ := loggingContext(t)
	start := time.Now()
	_, err := ServiceAccountToken(ctx, cs)
	if err == nil || !strings.Contains(err.Error(), "no token after 300ms") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v", err)
	}
	t.Logf("gave up after %s", time.Since(start).Round(time.Millisecond))
}

func TestServiceAccountTokenHonoursCancel(t *testing.T) {
	cs := fake.NewClientset()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	_, err := ServiceAccountToken(ctx, cs) // waits for a token nobody fills
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
}

func TestServiceAccountTokenSecretDeleted(t *testing.T) {
	cs := fake.NewClientset()
	// A token controller that finds no service account deletes the Secret.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := cs.CoreV1().Secrets(Namespace).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	go func() {
		for ev := range w.ResultChan() {
			if s, ok := ev.Object.(*corev1.Secret); ok && ev.Type == "ADDED" {
				time.Sleep(20 * time.Millisecond)
				_ = cs.CoreV1().Secrets(Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{})
			}
		}
	}()
	_, err = ServiceAccountToken(ctx, cs)
	if !errors.Is(err, kwatch.ErrTokenSecretDeleted) {
		t.Errorf("error = %v, want %v", err, kwatch.ErrTokenSecretDeleted)
	}
}

// failTimes makes the first n verb calls on resource fail with err and counts all calls.
func failTimes(cs *fake.Clientset, verb, resource string, n int, err error) *int {
	calls := 0
	cs.PrependReactor(verb, resource, func(k8stesting.Action) (bool, runtime.Object, error) {
		calls++
		if calls <= n {
			return true, nil, err
		}
		return false, nil, nil
	})
	return &calls
}

// netOpError is a refused connection as the HTTP client reports it.
type netOpError struct{ errno syscall.Errno }

func (e *netOpError) Error() string {
	return "dial tcp 192.168.10.10:6443: connect: " + e.errno.Error()
}
func (e *netOpError) Unwrap() error { return e.errno }

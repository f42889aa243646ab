package addons

import (
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// namespace is where the charts are installed (their catalog.cattle.io/namespace).
const namespace = "kube-system"

// RKE1's node-role labels and the taints it puts on nodes without the worker role
// (rke services/workerplane.go). The charts' defaults only know RKE2's node-role.kubernetes.io/control-plane.
const (
	controlPlaneLabel = "node-role.kubernetes.io/controlplane"
	etcdLabel         = "node-role.kubernetes.io/etcd"
	rke2ControlPlane  = "node-role.kubernetes.io/control-plane"
)

// chart names the objects of one chart release the way its helpers do: selector labels from the chart
// name and release, common labels adding the chart and app versions.
type chart struct {
	name, release, version, appVersion string
}

var (
	ccmChart     = chart{name: "harvester-cloud-provider", release: "harvester-cloud-provider", version: ChartCloudProvider, appVersion: "v0.2.8"}
	kubeVipChart = chart{name: "kube-vip", release: "harvester-cloud-provider", version: ChartKubeVip, appVersion: "v1.2.2"}
	csiChart     = chart{name: "harvester-csi-driver", release: "harvester-csi-driver", version: ChartCSIDriver, appVersion: "v0.2.9"}
)

func (c chart) selector() map[string]string {
	return map[string]string{"app.kubernetes.io/name": c.name, "app.kubernetes.io/instance": c.release}
}

func (c chart) labels() map[string]string {
	l := c.selector()
	l["helm.sh/chart"] = c.name + "-" + c.version
	l["app.kubernetes.io/version"] = c.appVersion
	return l
}

// meta is namespaced object metadata with the chart's common labels.
func (c chart) meta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: c.labels()}
}

func (c chart) serviceAccount() *corev1.ServiceAccount {
	return &corev1.ServiceAccount{TypeMeta: typeMeta("v1", "ServiceAccount"), ObjectMeta: c.meta(c.name)}
}

// clusterRoleBinding binds the chart's ClusterRole to its ServiceAccount, both named like the chart.
func (c chart) clusterRoleBinding() *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		TypeMeta:   typeMeta("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
		ObjectMeta: metav1.ObjectMeta{Name: c.name, Labels: c.labels()},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: c.name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: c.name, Namespace: namespace}},
	}
}

func typeMeta(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}

func rule(groups, resources, verbs []string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{APIGroups: groups, Resources: resources, Verbs: verbs}
}

// linuxNodes is the charts' nodeSelector.
func linuxNodes() map[string]string { return map[string]string{corev1.LabelOSStable: "linux"} }

// rke1Tolerations let a pod onto RKE1 control-plane-only and etcd-only nodes.
func rke1Tolerations() []corev1.Toleration {
	return []corev1.Toleration{
		{Key: controlPlaneLabel, Operator: corev1.TolerationOpEqual, Value: "true", Effect: corev1.TaintEffectNoSchedule},
		{Key: etcdLabel, Operator: corev1.TolerationOpEqual, Value: "true", Effect: corev1.TaintEffectNoExecute},
	}
}

// controlPlaneAffinity requires a control-plane node, RKE1's or RKE2's label, as the charts do.
func controlPlaneAffinity() *corev1.NodeAffinity {
	term := func(key string) corev1.NodeSelectorTerm {
		return corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: key, Operator: corev1.NodeSelectorOpExists}}}
	}
	return &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{term(controlPlaneLabel), term(rke2ControlPlane)}}}
}

func hostPath(name, path string, typ corev1.HostPathType) corev1.Volume {
	var t *corev1.HostPathType
	if typ != "" {
		t = &typ
	}
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path, Type: t}}}
}

func fieldEnv(name, path string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path}}}
}

func preStop(script string) *corev1.Lifecycle {
	return &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/bin/sh", "-c", script}}}}
}

func ptr[T any](v T) *T { return &v }

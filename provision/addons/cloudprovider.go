package addons

import (
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// CloudConfigPath is where RKE writes CloudProvider.HarvesterCloudProvider.CloudConfig (the Harvester
// kubeconfig) on every node; the chart's cloudConfigPath value set for RKE1.
const CloudConfigPath = "/etc/kubernetes/cloud-config"

// cloudProviderObjects are the harvester-cloud-provider chart's own objects.
func cloudProviderObjects(clusterName, image string) []any {
	c := ccmChart
	role := &rbacv1.ClusterRole{
		TypeMeta:   typeMeta("rbac.authorization.k8s.io/v1", "ClusterRole"),
		ObjectMeta: metav1.ObjectMeta{Name: c.name},
		Rules: []rbacv1.PolicyRule{
			rule([]string{""}, []string{"services", "nodes", "events"}, []string{"get", "watch", "list", "update", "create", "patch"}),
			rule([]string{""}, []string{"nodes/status", "services/status"}, []string{"update", "patch"}),
			rule([]string{"coordination.k8s.io"}, []string{"leases"}, []string{"get", "update", "create"}),
			rule([]string{""}, []string{"configmaps"}, []string{"get", "list", "watch", "create", "update"}),
		},
	}
	tolerations := []corev1.Toleration{
		// Nodes of a cluster with an external cloud provider wait with this taint for the CCM.
		{Key: "node.cloudprovider.kubernetes.io/uninitialized", Operator: corev1.TolerationOpEqual, Value: "true", Effect: corev1.TaintEffectNoSchedule},
		{Key: rke2ControlPlane, Operator: corev1.TolerationOpEqual, Effect: corev1.TaintEffectNoSchedule},
		{Key: etcdLabel, Operator: corev1.TolerationOpEqual, Effect: corev1.TaintEffectNoExecute},
		{Key: "cattle.io/os", Operator: corev1.TolerationOpEqual, Value: "linux", Effect: corev1.TaintEffectNoSchedule},
	}
	maxUnavailable := intstr.FromInt32(1)
	deployment := &appsv1.Deployment{
		TypeMeta:   typeMeta("apps/v1", "Deployment"),
		ObjectMeta: c.meta(c.name),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: c.selector()},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &maxUnavailable}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: c.selector()},
				Spec: corev1.PodSpec{
					ServiceAccountName: c.name,
					HostNetwork:        true,
					Containers: []corev1.Container{{
						Name:            c.name,
						Image:           image,
						ImagePullPolicy: corev1.PullIfNotPresent,
						Command:         []string{"harvester-cloud-provider"},
						Args:            []string{"--cloud-config=" + CloudConfigPath, "--cluster-name=" + clusterName},
						VolumeMounts:    []corev1.VolumeMount{{Name: "cloud-config", MountPath: CloudConfigPath, ReadOnly: true}},
					}},
					NodeSelector: linuxNodes(),
					Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
						RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
							LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
								Key: "app.kubernetes.io/name", Operator: metav1.LabelSelectorOpIn, Values: []string{c.name}}}},
							TopologyKey: corev1.LabelHostname,
						}},
					}},
					Tolerations: append(tolerations, rke1Tolerations()...),
					// A File, not DirectoryOrCreate: a node without RKE's cloud-config must fail visibly.
					Volumes: []corev1.Volume{hostPath("cloud-config", CloudConfigPath, corev1.HostPathFile)},
				},
			},
		},
	}
	return []any{c.serviceAccount(), role, c.clusterRoleBinding(), deployment}
}

// kubeVipEnv is the subchart's env as the cloud-provider chart sets it: kube-vip only announces the
// addresses of LoadBalancer Services (svc_enable), by ARP, and not the control plane's (cp_enable).
var kubeVipEnv = map[string]string{
	"vip_interface":      "",
	"vip_arp":            "true",
	"lb_enable":          "true",
	"lb_port":            "6443",
	"vip_subnet":         "32",
	"cp_enable":          "false",
	"svc_enable":         "true",
	"svc_election":       "false",
	"vip_leaderelection": "false",
	"prometheus_server":  ":2112",
}

// kubeVipObjects are the kube-vip subchart's objects, on control-plane nodes as the parent chart puts it.
func kubeVipObjects(image string) []any {
	c := kubeVipChart
	clusterRole := &rbacv1.ClusterRole{
		TypeMeta: typeMeta("rbac.authorization.k8s.io/v1", "ClusterRole"),
		ObjectMeta: metav1.ObjectMeta{Name: c.name,
			Annotations: map[string]string{"rbac.authorization.kubernetes.io/autoupdate": "true"}},
		Rules: []rbacv1.PolicyRule{
			rule([]string{""}, []string{"services/status"}, []string{"update"}),
			rule([]string{""}, []string{"services", "endpoints"}, []string{"list", "get", "watch", "update"}),
			rule([]string{""}, []string{"nodes"}, []string{"list", "get", "watch", "update", "patch"}),
			rule([]string{"coordination.k8s.io"}, []string{"leases"}, []string{"list", "get", "watch", "update", "create"}),
			rule([]string{"discovery.k8s.io"}, []string{"endpointslices"}, []string{"list", "get", "watch", "update"}),
			rule([]string{""}, []string{"pods"}, []string{"list"}),
		},
	}
	role := &rbacv1.Role{
		TypeMeta:   typeMeta("rbac.authorization.k8s.io/v1", "Role"),
		ObjectMeta: c.meta(c.name),
		Rules:      []rbacv1.PolicyRule{rule([]string{""}, []string{"secrets"}, []string{"list", "get"})},
	}
	roleBinding := &rbacv1.RoleBinding{
		TypeMeta:   typeMeta("rbac.authorization.k8s.io/v1", "RoleBinding"),
		ObjectMeta: c.meta(c.name),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: c.name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: c.name, Namespace: namespace}},
	}
	var env []corev1.EnvVar
	for name, value := range kubeVipEnv {
		env = append(env, corev1.EnvVar{Name: name, Value: value})
	}
	sort.Slice(env, func(i, j int) bool { return env[i].Name < env[j].Name })
	maxUnavailable := intstr.FromInt32(1)
	daemonSet := &appsv1.DaemonSet{
		TypeMeta:   typeMeta("apps/v1", "DaemonSet"),
		ObjectMeta: metav1.ObjectMeta{Name: c.name, Namespace: namespace},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: c.selector()},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &maxUnavailable}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: c.selector()},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{
						Name:            "kube-vip",
						Image:           image,
						ImagePullPolicy: corev1.PullIfNotPresent,
						Args:            []string{"manager"},
						Env:             env,
						SecurityContext: &corev1.SecurityContext{Capabilities: &corev1.Capabilities{
							Add: []corev1.Capability{"NET_ADMIN", "NET_RAW"}, Drop: []corev1.Capability{"ALL"}}},
					}},
					HostNetwork:        true,
					ServiceAccountName: c.name,
					Tolerations: []corev1.Toleration{
						{Key: rke2ControlPlane, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
						{Key: etcdLabel, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
						// RKE1: the etcd toleration above already matches its etcd=true taint.
						{Key: controlPlaneLabel, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
					},
					Affinity: &corev1.Affinity{NodeAffinity: controlPlaneAffinity()},
				},
			},
		},
	}
	return []any{c.serviceAccount(), clusterRole, c.clusterRoleBinding(), role, roleBinding, daemonSet}
}

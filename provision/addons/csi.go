package addons

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// CSIDriverName is the driver's name, the provisioner of StorageClassName.
	CSIDriverName = "driver.harvesterhci.io"
	// StorageClassName is the cluster's default StorageClass.
	StorageClassName = "harvester"

	// kubeletRootDir is RKE1's kubelet --root-dir (the chart's kubeletRootDir default).
	kubeletRootDir = "/var/lib/kubelet"
	// socketDir on the host holds the driver's socket, shared by the node plugin and the controllers.
	socketDir = kubeletRootDir + "/harvester-plugins/" + CSIDriverName
)

func csiObjects(volumeNamePrefix string, img Images) []any {
	c := csiChart
	driver := &storagev1.CSIDriver{
		TypeMeta:   typeMeta("storage.k8s.io/v1", "CSIDriver"),
		ObjectMeta: metav1.ObjectMeta{Name: CSIDriverName},
		Spec: storagev1.CSIDriverSpec{
			AttachRequired:       ptr(true),
			PodInfoOnMount:       ptr(true),
			FSGroupPolicy:        ptr(storagev1.ReadWriteOnceWithFSTypeFSGroupPolicy),
			VolumeLifecycleModes: []storagev1.VolumeLifecycleMode{storagev1.VolumeLifecyclePersistent},
		},
	}
	class := &storagev1.StorageClass{
		TypeMeta: typeMeta("storage.k8s.io/v1", "StorageClass"),
		ObjectMeta: metav1.ObjectMeta{Name: StorageClassName,
			Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}},
		Provisioner:          CSIDriverName,
		AllowVolumeExpansion: ptr(true),
		ReclaimPolicy:        ptr(corev1.PersistentVolumeReclaimDelete),
		VolumeBindingMode:    ptr(storagev1.VolumeBindingImmediate),
	}
	all := []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	role := &rbacv1.ClusterRole{
		TypeMeta:   typeMeta("rbac.authorization.k8s.io/v1", "ClusterRole"),
		ObjectMeta: metav1.ObjectMeta{Name: c.name, Labels: c.labels()},
		Rules: []rbacv1.PolicyRule{
			rule([]string{"coordination.k8s.io"}, []string{"leases"}, []string{"get", "watch", "list", "delete", "update", "create"}),
			rule([]string{"storage.k8s.io"}, []string{"csistoragecapacities"}, all),
			rule([]string{""}, []string{"persistentvolumes"}, all),
			rule([]string{""}, []string{"persistentvolumeclaims"}, all),
			rule([]string{""}, []string{"persistentvolumeclaims/status"}, []string{"patch"}),
			rule([]string{"storage.k8s.io"}, []string{"storageclasses"}, []string{"get", "list", "watch"}),
			// Kept although RKE1 has no snapshot API: csi-provisioner reads snapshots for PVCs
			// restored from one, should the snapshot CRDs be installed later.
			rule([]string{"snapshot.storage.k8s.io"}, []string{"volumesnapshots", "volumesnapshotcontents", "volumesnapshotclasses", "volumesnapshotcontents/status"}, []string{"*"}),
			rule([]string{"storage.k8s.io"}, []string{"csinodes"}, []string{"get", "list", "watch"}),
			rule([]string{""}, []string{"events"}, []string{"list", "watch", "create", "update", "patch"}),
			rule([]string{""}, []string{"pods"}, []string{"get", "list", "watch"}),
			rule([]string{"apps"}, []string{"replicasets"}, []string{"get"}),
			rule([]string{""}, []string{"nodes"}, []string{"get", "list", "watch", "update"}),
			rule([]string{"storage.k8s.io"}, []string{"volumeattachments"}, []string{"get", "list", "watch", "patch"}),
			rule([]string{"storage.k8s.io"}, []string{"volumeattachments/status"}, []string{"patch"}),
		},
	}
	return []any{driver, class, c.serviceAccount(), role, c.clusterRoleBinding(),
		csiNodePlugin(img), csiControllers(volumeNamePrefix, img)}
}

// csiTolerations are the chart's plus RKE1's: the node plugin must run on control-plane nodes, where
// the controllers are pinned and reach the driver through the plugin's socket.
func csiTolerations() []corev1.Toleration {
	return append([]corev1.Toleration{
		{Key: "kubevirt.io/drain", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: rke2ControlPlane, Operator: corev1.TolerationOpEqual, Effect: corev1.TaintEffectNoSchedule},
		{Key: etcdLabel, Operator: corev1.TolerationOpEqual, Effect: corev1.TaintEffectNoExecute},
		{Key: "cattle.io/os", Operator: corev1.TolerationOpEqual, Value: "linux", Effect: corev1.TaintEffectNoSchedule},
	}, rke1Tolerations()...)
}

func socketMount() corev1.VolumeMount {
	return corev1.VolumeMount{Name: "socket-dir", MountPath: "/csi/"}
}

// csiNodePlugin is the DaemonSet running the driver on every node, registered with the kubelet.
func csiNodePlugin(img Images) *appsv1.DaemonSet {
	c := csiChart
	selector := c.selector()
	selector["component"] = "csi-driver"
	bidirectional := ptr(corev1.MountPropagationBidirectional)
	registrar := corev1.Container{
		Name:            "node-driver-registrar",
		Image:           img.NodeDriverRegistrar,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Args: []string{"--v=5", "--csi-address=$(ADDRESS)",
			"--kubelet-registration-path=" + socketDir + "/csi.sock"},
		Env:             []corev1.EnvVar{{Name: "ADDRESS", Value: "/csi/csi.sock"}},
		Lifecycle:       preStop("rm -rf /registration/" + CSIDriverName + "-reg.sock /csi//*"),
		SecurityContext: &corev1.SecurityContext{Privileged: ptr(true)},
		VolumeMounts:    []corev1.VolumeMount{socketMount(), {Name: "registration-dir", MountPath: "/registration"}},
	}
	driver := corev1.Container{
		Name:            "harvester-csi-driver",
		Image:           img.CSIDriver,
		ImagePullPolicy: corev1.PullIfNotPresent,
		// The chart points --kubeconfig at a hostPath directory of RKE2's (created if missing) and the
		// driver falls back to /etc/kubernetes/cloud-config when the file is not there; on RKE1 that
		// file is the one RKE writes, so name it and leave RKE2's directory alone.
		Args:      []string{"--nodeid=$(NODE_ID)", "--endpoint=$(CSI_ENDPOINT)", "--kubeconfig=" + CloudConfigPath},
		Env:       []corev1.EnvVar{fieldEnv("NODE_ID", "spec.nodeName"), {Name: "CSI_ENDPOINT", Value: "unix:///csi/csi.sock"}},
		Lifecycle: preStop("rm -f /csi//*"),
		SecurityContext: &corev1.SecurityContext{
			Privileged:               ptr(true),
			AllowPrivilegeEscalation: ptr(true),
			Capabilities:             &corev1.Capabilities{Add: []corev1.Capability{"SYS_ADMIN"}},
		},
		VolumeMounts: []corev1.VolumeMount{
			{Name: "kubernetes", MountPath: "/etc/kubernetes", ReadOnly: true},
			{Name: "kubernetes-csi-dir", MountPath: kubeletRootDir + "/plugins/kubernetes.io/csi", MountPropagation: bidirectional},
			socketMount(),
			{Name: "pods-mount-dir", MountPath: kubeletRootDir + "/pods", MountPropagation: bidirectional},
			{Name: "host-dev", MountPath: "/dev"},
			{Name: "host-sys", MountPath: "/sys"},
			{Name: "host", MountPath: "/rootfs", MountPropagation: bidirectional},
			{Name: "lib-modules", MountPath: "/lib/modules", ReadOnly: true},
		},
	}
	return &appsv1.DaemonSet{
		TypeMeta:   typeMeta("apps/v1", "DaemonSet"),
		ObjectMeta: c.meta(c.name),
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: selector},
				Spec: corev1.PodSpec{
					Containers:         []corev1.Container{registrar, driver},
					HostPID:            true,
					ServiceAccountName: c.name,
					NodeSelector:       linuxNodes(),
					Tolerations:        csiTolerations(),
					Volumes: []corev1.Volume{
						hostPath("kubernetes", "/etc/kubernetes", corev1.HostPathDirectoryOrCreate),
						hostPath("kubernetes-csi-dir", kubeletRootDir+"/plugins/kubernetes.io/csi", corev1.HostPathDirectoryOrCreate),
						hostPath("registration-dir", kubeletRootDir+"/plugins_registry", corev1.HostPathDirectory),
						hostPath("socket-dir", socketDir, corev1.HostPathDirectoryOrCreate),
						hostPath("pods-mount-dir", kubeletRootDir+"/pods", corev1.HostPathDirectoryOrCreate),
						hostPath("host-dev", "/dev", ""),
						hostPath("host-sys", "/sys", ""),
						hostPath("host", "/", ""),
						hostPath("lib-modules", "/lib/modules", ""),
					},
				},
			},
		},
	}
}

// csiControllers is the Deployment of the CSI sidecars that talk to the API server. The chart's
// csi-snapshotter is left out with its VolumeSnapshotClass: RKE1 installs neither the snapshot CRDs
// nor the snapshot controller the sidecar works for, so it could do nothing but log list errors.
func csiControllers(volumeNamePrefix string, img Images) *appsv1.Deployment {
	c := csiChart
	selector := c.selector()
	selector["component"] = "csi-controllers"
	sidecar := func(name, image string, extraArgs ...string) corev1.Container {
		return corev1.Container{
			Name:            name,
			Image:           image,
			ImagePullPolicy: corev1.PullIfNotPresent,
			Args: append([]string{"--v=5", "--csi-address=$(ADDRESS)", "--timeout=1m50s",
				"--leader-election", "--leader-election-namespace=$(POD_NAMESPACE)"}, extraArgs...),
			Env:          []corev1.EnvVar{{Name: "ADDRESS", Value: "/csi/csi.sock"}, fieldEnv("POD_NAMESPACE", "metadata.namespace")},
			VolumeMounts: []corev1.VolumeMount{socketMount()},
		}
	}
	return &appsv1.Deployment{
		TypeMeta:   typeMeta("apps/v1", "Deployment"),
		ObjectMeta: c.meta(c.name + "-controllers"),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(3)),
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: selector},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{
						sidecar("csi-resizer", img.Resizer),
						sidecar("csi-provisioner", img.Provisioner, "--default-fstype=ext4",
							"--volume-name-prefix="+volumeNamePrefix),
						sidecar("csi-attacher", img.Attacher),
					},
					ServiceAccountName: c.name,
					NodeSelector:       linuxNodes(),
					Tolerations:        csiTolerations(),
					Affinity: &corev1.Affinity{
						NodeAffinity: controlPlaneAffinity(),
						PodAntiAffinity: &corev1.PodAntiAffinity{
							PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
								Weight: 100,
								PodAffinityTerm: corev1.PodAffinityTerm{
									LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
										{Key: "app.kubernetes.io/name", Operator: metav1.LabelSelectorOpIn, Values: []string{c.name}},
										{Key: "component", Operator: metav1.LabelSelectorOpIn, Values: []string{"csi-controllers"}},
									}},
									TopologyKey: corev1.LabelHostname,
								},
							}},
						},
					},
					Volumes: []corev1.Volume{hostPath("socket-dir", socketDir, corev1.HostPathDirectoryOrCreate)},
				},
			},
		},
	}
}

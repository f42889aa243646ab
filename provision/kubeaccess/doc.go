// Package kubeaccess talks to the cluster the driver built: it creates the service-account token
// Rancher uses and reads the cluster's version and size.
package kubeaccess

package driver

import (
	"net"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision"
)

func parseAPIEndpoint(r *optionReader) provision.APIEndpoint {
	e := provision.APIEndpoint{IPPool: r.str(optAPIIPPool)}
	switch addr := r.str(optAPIAddress); {
	case addr == "":
	case addr == provision.EndpointLoadBalancer:
		e.Mode = provision.EndpointLoadBalancer
	case isIPv4(addr) || !looksNumeric(addr) && strings.Contains(addr, ".") && len(validation.IsDNS1123Subdomain(strings.ToLower(addr))) == 0:
		e.Mode, e.Address = provision.EndpointExternal, addr
	default:
		r.problem(optAPIAddress, "must be empty, load-balancer, or an IPv4 address or DNS name (without scheme or port: the API is on port 6443), got %q", addr)
	}
	if e.IPPool != "" {
		if e.Mode != provision.EndpointLoadBalancer {
			r.problem(optAPIIPPool, "goes with control-plane-address load-balancer")
		} else if errs := validation.IsDNS1123Subdomain(e.IPPool); len(errs) > 0 {
			r.problem(optAPIIPPool, "must be the name of a Harvester IPPool, got %q", e.IPPool)
		}
	}
	return e
}

func isIPv4(s string) bool {
	ip := net.ParseIP(s)
	return ip != nil && ip.To4() != nil && !strings.Contains(s, ":")
}

// looksNumeric tells a mistyped IPv4 address (10.0.0.300) from a DNS name.
func looksNumeric(s string) bool {
	return strings.Trim(s, "0123456789.") == ""
}

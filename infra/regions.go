package infra

import (
	"fmt"
	"net/netip"
)

// CloudRunRegions are the regions Cloud Run runs services in
// (cloud.google.com/run/docs/locations, December 2026). A region added since needs adding here.
var CloudRunRegions = []string{
	"africa-south1",
	"asia-east1", "asia-east2", "asia-northeast1", "asia-northeast2", "asia-northeast3",
	"asia-south1", "asia-south2", "asia-southeast1", "asia-southeast2",
	"australia-southeast1", "australia-southeast2",
	"europe-central2", "europe-north1", "europe-north2", "europe-southwest1",
	"europe-west1", "europe-west2", "europe-west3", "europe-west4", "europe-west6",
	"europe-west8", "europe-west9", "europe-west10", "europe-west12",
	"me-central1", "me-central2", "me-west1",
	"northamerica-northeast1", "northamerica-northeast2", "northamerica-south1",
	"southamerica-east1", "southamerica-west1",
	"us-central1", "us-east1", "us-east4", "us-east5", "us-south1",
	"us-west1", "us-west2", "us-west3", "us-west4",
}

// MaxRegions bounds a stack's regions: each brings a service, a subnet, a Redis instance and a
// NEG, and the lab and the tests model up to this many.
const MaxRegions = 5

// FirestoreMultiRegions are Firestore's multi-region locations
// (cloud.google.com/firestore/docs/locations#location-mr): a multi-region stack keeps carts and
// sessions there, so that losing a region loses neither.
var FirestoreMultiRegions = []string{"nam5", "nam7", "eur3"}

// RegionSubnets gives each of n regions its own Direct VPC egress range: the first is cidr, the
// next ones the ranges of the same size that follow it (10.8.0.0/24, 10.8.1.0/24, ...).
func RegionSubnets(cidr string, n int) ([]string, error) {
	pre, err := netip.ParsePrefix(cidr)
	if err != nil || !pre.Addr().Is4() {
		return nil, fmt.Errorf("%q is not an IPv4 CIDR range", cidr)
	}
	size := uint32(1) << (32 - pre.Bits())
	a := pre.Addr().As4()
	base := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	out := make([]string, n)
	for i := range out {
		next := uint64(base) + uint64(i)*uint64(size)
		if next+uint64(size) > 1<<32 {
			return nil, fmt.Errorf("%q has no room for %d ranges of its size after it", cidr, n)
		}
		v := uint32(next)
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), pre.Bits())
		out[i] = p.String()
	}
	return out, nil
}

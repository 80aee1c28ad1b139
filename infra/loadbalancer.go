package infra

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/compute"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Load balancer affinity modes (stack config lbAffinity).
const (
	// AffinityGAESA hashes on Cloud Run's own GAESA cookie (HTTP_COOKIE + RING_HASH), so the LB
	// and Cloud Run agree on the client's instance.
	AffinityGAESA = "gaesa"
	// AffinityNone leaves affinity to Cloud Run alone.
	AffinityNone = "none"
)

// LBAffinities lists the allowed values.
var LBAffinities = []string{AffinityGAESA, AffinityNone}

// Cloud Run's affinity cookie: name, path, lifetime.
const (
	GAESACookie     = "GAESA"
	gaesaPath       = "/"
	gaesaTTLSeconds = 30 * 24 * 3600
)

// externalManaged is the global external Application Load Balancer scheme; the only one on
// which cookie-keyed consistent hashing is available.
const externalManaged = "EXTERNAL_MANAGED"

// LoadBalancer is a global external Application Load Balancer in front of a Cloud Run service:
// a reserved IPv4 address, HTTPS on 443 with a Google-managed certificate, and a redirect from
// HTTP on port 80 of the same address.
type LoadBalancer struct {
	pulumi.ResourceState
	IPAddress pulumi.StringOutput `pulumi:"ipAddress"`
	Domain    pulumi.StringOutput `pulumi:"domain"`
	URL       pulumi.StringOutput `pulumi:"url"`
	// BackendServiceName is for `gcloud compute backend-services describe NAME --global`.
	BackendServiceName pulumi.StringOutput `pulumi:"backendServiceName"`
	// CertificateName is for `gcloud compute ssl-certificates describe NAME`, which shows
	// whether the managed certificate is still PROVISIONING.
	CertificateName pulumi.StringOutput `pulumi:"certificateName"`
	// URLMapName and HTTPSForwardingRuleName are the url_map_name and forwarding_rule_name
	// labels of the https_lb_rule monitored resource: what Monitoring filters the stack's
	// load balancer metrics on (port 80 only redirects, through its own URL map and rule).
	URLMapName              pulumi.StringOutput `pulumi:"urlMapName"`
	HTTPSForwardingRuleName pulumi.StringOutput `pulumi:"httpsForwardingRuleName"`
}

// RegionBackend is one region's Cloud Run service behind the load balancer.
type RegionBackend struct {
	Region  string
	Service pulumi.StringInput // Cloud Run service name
}

// LoadBalancerArgs configures the load balancer.
type LoadBalancerArgs struct {
	// Backends are the regions' services, the stack's home region first: its NEG keeps the
	// name a single-region stack had.
	Backends       []RegionBackend
	Domain         string             // certificate domain; "" uses <ip>.nip.io
	Affinity       string             // gaesa or none
	SecurityPolicy pulumi.StringInput // optional Cloud Armor policy self link
	// Labels go on the address and the forwarding rules, the parts that take labels.
	Labels    map[string]string
	DependsOn []pulumi.Resource
}

var domainPattern = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)

// ValidDomain reports whether s is a lowercase DNS name a managed certificate can cover.
func ValidDomain(s string) bool { return len(s) <= 253 && domainPattern.MatchString(s) }

// Validate checks every field.
func (a LoadBalancerArgs) Validate() error {
	var p problems
	if len(a.Backends) == 0 {
		p.addf("Backends is required: at least one region's Cloud Run service")
	}
	seen := map[string]bool{}
	for i, b := range a.Backends {
		if b.Region == "" || seen[b.Region] {
			p.addf("Backends[%d]: region %q is empty or repeated; one backend per region", i, b.Region)
		}
		seen[b.Region] = true
		if b.Service == nil {
			p.addf("Backends[%d]: Service is required (the Cloud Run service name)", i)
		}
	}
	if a.Domain != "" && !ValidDomain(a.Domain) {
		p.addf("Domain %q is not a lowercase DNS name (e.g. shop.example.com); leave it empty to use <ip>.nip.io", a.Domain)
	}
	if !oneOf(a.Affinity, LBAffinities...) {
		p.addf("Affinity %q is not allowed; use one of %s", a.Affinity, strings.Join(LBAffinities, ", "))
	}
	labelsProblems(&p, a.Labels)
	return p.err()
}

// NewLoadBalancer creates the load balancer.
func NewLoadBalancer(ctx *pulumi.Context, name string, args LoadBalancerArgs, opts ...pulumi.ResourceOption) (*LoadBalancer, error) {
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("load balancer %q: %w", name, err)
	}
	c := &LoadBalancer{}
	if err := ctx.RegisterComponentResource(typePrefix+"LoadBalancer", name, c, opts...); err != nil {
		return nil, err
	}
	child := func() []pulumi.ResourceOption { return ChildOptions(c, args.DependsOn) }

	addr, err := compute.NewGlobalAddress(ctx, name, &compute.GlobalAddressArgs{
		IpVersion:   pulumi.String("IPV4"),
		AddressType: pulumi.String("EXTERNAL"),
		Labels:      labelsInput(args.Labels), // updated in place (setLabels); a description would replace it
	}, child()...)
	if err != nil {
		return nil, err
	}
	// One serverless NEG per region (the home region's keeps the single-region name). No Name:
	// auto-naming lets Pulumi replace a NEG create-before-delete instead of failing with
	// "resource in use".
	var backends compute.BackendServiceBackendArray
	for i, b := range args.Backends {
		neg, err := compute.NewRegionNetworkEndpointGroup(ctx, regionalName(name, b.Region, i == 0), &compute.RegionNetworkEndpointGroupArgs{
			Region:              pulumi.String(b.Region),
			NetworkEndpointType: pulumi.String("SERVERLESS"),
			CloudRun:            &compute.RegionNetworkEndpointGroupCloudRunArgs{Service: b.Service},
		}, child()...)
		if err != nil {
			return nil, err
		}
		backends = append(backends, &compute.BackendServiceBackendArgs{Group: neg.ID()})
	}

	// A serverless NEG backend must not set TimeoutSec, PortName or HealthChecks (the API
	// answers 400): Cloud Run owns the request timeout and instance health.
	backendArgs := &compute.BackendServiceArgs{
		LoadBalancingScheme: pulumi.String(externalManaged),
		Protocol:            pulumi.String("HTTP"), // HTTP/1.1 to Cloud Run: WebSockets need it
		Backends:            backends,
		LogConfig:           &compute.BackendServiceLogConfigArgs{Enable: pulumi.Bool(true), SampleRate: pulumi.Float64(1)},
	}
	if len(args.Backends) > 1 {
		backendArgs.OutlierDetection = regionFailover(len(args.Backends))
	}
	switch args.Affinity {
	case AffinityGAESA:
		backendArgs.SessionAffinity = pulumi.String("HTTP_COOKIE")
		backendArgs.LocalityLbPolicy = pulumi.String("RING_HASH")
		backendArgs.ConsistentHash = &compute.BackendServiceConsistentHashArgs{
			HttpCookie: &compute.BackendServiceConsistentHashHttpCookieArgs{
				Name: pulumi.String(GAESACookie),
				Path: pulumi.String(gaesaPath),
				Ttl:  &compute.BackendServiceConsistentHashHttpCookieTtlArgs{Seconds: pulumi.Int(gaesaTTLSeconds)},
			},
		}
	case AffinityNone:
		backendArgs.SessionAffinity = pulumi.String("NONE")
	}
	if args.SecurityPolicy != nil {
		backendArgs.SecurityPolicy = args.SecurityPolicy
	}
	backend, err := compute.NewBackendService(ctx, name, backendArgs, child()...)
	if err != nil {
		return nil, err
	}

	urlMap, err := compute.NewURLMap(ctx, name, &compute.URLMapArgs{DefaultService: backend.ID()}, child()...)
	if err != nil {
		return nil, err
	}
	domain := pulumi.String(args.Domain).ToStringOutput()
	if args.Domain == "" {
		// nip.io resolves <ip>.nip.io to <ip>: working HTTPS with no DNS work.
		domain = pulumi.Sprintf("%s.nip.io", addr.Address)
	}
	// No Name: a domain change replaces the certificate create-before-delete.
	cert, err := compute.NewManagedSslCertificate(ctx, name, &compute.ManagedSslCertificateArgs{
		Type:    pulumi.String("MANAGED"),
		Managed: &compute.ManagedSslCertificateManagedArgs{Domains: pulumi.StringArray{domain}},
	}, child()...)
	if err != nil {
		return nil, err
	}
	httpsProxy, err := compute.NewTargetHttpsProxy(ctx, name, &compute.TargetHttpsProxyArgs{
		UrlMap:          urlMap.ID(),
		SslCertificates: pulumi.StringArray{cert.ID()},
	}, child()...)
	if err != nil {
		return nil, err
	}
	httpsRule, err := compute.NewGlobalForwardingRule(ctx, name+"-https", &compute.GlobalForwardingRuleArgs{
		IpAddress:           addr.ID(),
		IpProtocol:          pulumi.String("TCP"),
		PortRange:           pulumi.String("443"),
		LoadBalancingScheme: pulumi.String(externalManaged),
		Target:              httpsProxy.ID(),
		Labels:              labelsInput(args.Labels),
	}, child()...)
	if err != nil {
		return nil, err
	}

	redirect, err := compute.NewURLMap(ctx, name+"-redirect", &compute.URLMapArgs{
		DefaultUrlRedirect: &compute.URLMapDefaultUrlRedirectArgs{
			HttpsRedirect:        pulumi.Bool(true),
			StripQuery:           pulumi.Bool(false),
			RedirectResponseCode: pulumi.String("MOVED_PERMANENTLY_DEFAULT"),
		},
	}, child()...)
	if err != nil {
		return nil, err
	}
	httpProxy, err := compute.NewTargetHttpProxy(ctx, name+"-redirect", &compute.TargetHttpProxyArgs{
		UrlMap: redirect.ID(),
	}, child()...)
	if err != nil {
		return nil, err
	}
	if _, err := compute.NewGlobalForwardingRule(ctx, name+"-http", &compute.GlobalForwardingRuleArgs{
		IpAddress:           addr.ID(),
		IpProtocol:          pulumi.String("TCP"),
		PortRange:           pulumi.String("80"),
		LoadBalancingScheme: pulumi.String(externalManaged),
		Target:              httpProxy.ID(),
		Labels:              labelsInput(args.Labels),
	}, child()...); err != nil {
		return nil, err
	}

	c.IPAddress = addr.Address
	c.Domain = domain
	c.URL = pulumi.Sprintf("https://%s", domain)
	c.BackendServiceName = backend.Name
	c.CertificateName = cert.Name
	c.URLMapName = urlMap.Name
	c.HTTPSForwardingRuleName = httpsRule.Name
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{
		"ipAddress": c.IPAddress, "domain": c.Domain, "url": c.URL,
		"backendServiceName": c.BackendServiceName, "certificateName": c.CertificateName,
		"urlMapName": c.URLMapName, "httpsForwardingRuleName": c.HTTPSForwardingRuleName,
	})
}

// Outlier detection is how a region leaves the rotation: a serverless NEG has no health check,
// but a global EXTERNAL_MANAGED backend service can eject a serverless NEG that answers errors
// (compute v1 BackendService.outlierDetection: "Applicable backend endpoints ... Serverless
// NEGs, that resolve to Cloud Run"; "a global backend service with the loadBalancingScheme set
// to ... EXTERNAL_MANAGED"). An ejected NEG comes back after baseEjectionTime × the times it
// was ejected, and is ejected again if it still fails. A region whose Redis is down answers 503
// to signed-in requests, which counts. The pinned pulumi-gcp v8.41 has no Cloud Run
// readinessProbe, so Cloud Run service health (readiness aggregated per region) is not used.
const (
	failoverConsecutiveErrors  = 5  // 5xx in a row before a region is ejected
	failoverConsecutiveGateway = 3  // 502/503/504 in a row (Cloud Run's answer when it has no instance)
	failoverIntervalSeconds    = 10 // how often ejection is evaluated
	failoverEjectionSeconds    = 30 // first ejection; longer each time it repeats
)

func regionFailover(regions int) *compute.BackendServiceOutlierDetectionArgs {
	return &compute.BackendServiceOutlierDetectionArgs{
		ConsecutiveErrors: pulumi.Int(failoverConsecutiveErrors),
		// Enforcement of consecutive 5xx defaults to 0 %: without 100 nothing is ejected for them.
		EnforcingConsecutiveErrors:         pulumi.Int(100),
		ConsecutiveGatewayFailure:          pulumi.Int(failoverConsecutiveGateway),
		EnforcingConsecutiveGatewayFailure: pulumi.Int(100),
		Interval:                           &compute.BackendServiceOutlierDetectionIntervalArgs{Seconds: pulumi.Int(failoverIntervalSeconds)},
		BaseEjectionTime:                   &compute.BackendServiceOutlierDetectionBaseEjectionTimeArgs{Seconds: pulumi.Int(failoverEjectionSeconds)},
		// All regions but one may be ejected: the last one keeps serving whatever it can.
		MaxEjectionPercent: pulumi.Int(100 * (regions - 1) / regions),
	}
}

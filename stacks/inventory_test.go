package main

import (
	"strings"
	"testing"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
)

// inventoryKeys are the inputs reviewers should see change.
var inventoryKeys = map[string][]string{
	"gcp:projects/service:Service":      {"service", "disableOnDestroy"},
	"gcp:compute/network:Network":       {"autoCreateSubnetworks"},
	"gcp:compute/subnetwork:Subnetwork": {"ipCidrRange", "region", "privateIpGoogleAccess"},
	"gcp:redis/instance:Instance": {"tier", "memorySizeGb", "redisVersion", "authEnabled", "transitEncryptionMode",
		"connectMode", "region", "maintenancePolicy", "persistenceConfig", "labels"},
	"gcp:secretmanager/secret:Secret":               {"secretId", "replication", "labels"},
	"gcp:secretmanager/secretVersion:SecretVersion": {"secretData"},
	"gcp:firestore/database:Database": {"name", "type", "locationId", "concurrencyMode",
		"pointInTimeRecoveryEnablement", "deleteProtectionState", "deletionPolicy"},
	"gcp:firestore/field:Field":                         {"database", "collection", "field", "ttlConfig", "indexConfig"},
	"random:index/randomId:RandomId":                    {"byteLength"},
	"gcp:serviceaccount/account:Account":                {"accountId"},
	"gcp:projects/iAMMember:IAMMember":                  {"role", "member", "condition"},
	"gcp:secretmanager/secretIamMember:SecretIamMember": {"role", "secretId", "member"},
	"gcp:artifactregistry/repository:Repository":        {"repositoryId", "format", "location", "cleanupPolicies", "labels"},
	"gcp:cloudrunv2/service:Service": {"ingress", "invokerIamDisabled", "defaultUriDisabled", "deletionProtection", "labels", "template.sessionAffinity",
		"template.timeout", "template.maxInstanceRequestConcurrency", "template.scaling", "template.vpcAccess",
		"template.serviceAccount", "template.containers[0].image", "template.containers[0].resources",
		"template.containers[0].envs", "template.containers[0].startupProbe", "template.containers[0].livenessProbe"},
	"gcp:compute/globalAddress:GlobalAddress":                           {"ipVersion", "addressType", "labels"},
	"gcp:compute/regionNetworkEndpointGroup:RegionNetworkEndpointGroup": {"name", "networkEndpointType", "cloudRun", "region"},
	"gcp:compute/backendService:BackendService": {"loadBalancingScheme", "protocol", "sessionAffinity", "localityLbPolicy",
		"consistentHash", "securityPolicy", "logConfig", "timeoutSec", "portName", "healthChecks"},
	"gcp:compute/uRLMap:URLMap":                               {"defaultService", "defaultUrlRedirect"},
	"gcp:compute/managedSslCertificate:ManagedSslCertificate": {"name", "type", "managed"},
	"gcp:compute/targetHttpsProxy:TargetHttpsProxy":           {"urlMap", "sslCertificates"},
	"gcp:compute/targetHttpProxy:TargetHttpProxy":             {"urlMap"},
	"gcp:compute/globalForwardingRule:GlobalForwardingRule":   {"portRange", "ipProtocol", "loadBalancingScheme", "ipAddress", "target", "labels"},
	"gcp:compute/securityPolicy:SecurityPolicy":               {"type", "rules"},
	// The dashboard's JSON is reviewed in infra/testdata/monitoring-dashboard.json; the
	// alerts' documentation text in infra/monitoring.go.
	"gcp:monitoring/dashboard:Dashboard":                     {"project"},
	"gcp:monitoring/alertPolicy:AlertPolicy":                 {"displayName", "severity", "combiner", "conditions", "notificationChannels", "alertStrategy", "userLabels"},
	"gcp:monitoring/notificationChannel:NotificationChannel": {"type", "displayName", "labels", "userLabels"},
	"gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig": {"displayName", "monitoredResource", "httpCheck", "contentMatchers",
		"selectedRegions", "checkerType", "period", "timeout", "userLabels"},
	"gcp:monitoring/customService:CustomService": {"displayName", "serviceId", "userLabels"},
	"gcp:monitoring/slo:Slo":                     {"service", "displayName", "goal", "rollingPeriodDays", "requestBasedSli", "userLabels"},
}

// TestGoldenInventories checks, per scenario, every resource the cloud receives with its key
// inputs after `pulumi up` against testdata/<scenario>.inventory.txt. Regenerate after a
// reviewed change with: go test ./stacks -run TestGoldenInventories -update
func TestGoldenInventories(t *testing.T) {
	for _, s := range scenarios(t) {
		t.Run(s.name, func(t *testing.T) {
			res := s.run(t, infratest.Update)
			// The built app's digest changes with every app edit; TestCloudRunRunsTheBuiltApp...
			// checks it, the inventory only shows where it goes.
			digest, err := appDigest()
			if err != nil {
				t.Fatal(err)
			}
			inv := strings.ReplaceAll(res.Inventory(inventoryKeys), digest, "sha256:<app/ digest>")
			infratest.Golden(t, "testdata/"+s.name+".inventory.txt", inv)
		})
	}
}

// TestPreviewRegistersWhatUpdateRegisters: a preview shows every resource an update creates,
// with the same parents.
func TestPreviewRegistersWhatUpdateRegisters(t *testing.T) {
	for _, s := range scenarios(t) {
		t.Run(s.name, func(t *testing.T) {
			preview := s.run(t, infratest.Preview).Inventory(nil)
			update := s.run(t, infratest.Update).Inventory(nil)
			if preview != update {
				t.Errorf("preview and update register different resources:\npreview:\n%s\nupdate:\n%s", preview, update)
			}
		})
	}
}

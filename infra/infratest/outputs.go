package infratest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// Values the default mock outputs use, exported so tests can assert on them.
const (
	PulumiProject = "cloudrun-affinity"
	DefaultStack  = "test"

	RedisHost       = "10.20.0.3"
	RedisPort       = 6378 // Memorystore's port with in-transit encryption
	RedisAuthString = "mock-redis-auth-4f1c2a"
	AddressIP       = "203.0.113.10"
)

// RedisCACerts are the two server CAs the mock Memorystore reports (current and next), so
// code that keeps only the first one shows up in tests.
var RedisCACerts = []string{
	"-----BEGIN CERTIFICATE-----\nMOCKCURRENTCA\n-----END CERTIFICATE-----\n",
	"-----BEGIN CERTIFICATE-----\nMOCKNEXTCA\n-----END CERTIFICATE-----\n",
}

// DefaultOutputs are the computed outputs of the resource types this project uses.
func DefaultOutputs() map[string]OutputFunc {
	return map[string]OutputFunc{
		"gcp:redis/instance:Instance": func(m *Mocks, r Resource) resource.PropertyMap {
			var certs []resource.PropertyValue
			for i, c := range RedisCACerts {
				certs = append(certs, resource.NewProperty(resource.PropertyMap{
					"cert":            resource.NewProperty(c),
					"serialNumber":    resource.NewProperty(fmt.Sprint(i + 1)),
					"sha1Fingerprint": resource.NewProperty(fmt.Sprintf("fp%d", i+1)),
				}))
			}
			return resource.PropertyMap{
				"host":                   resource.NewProperty(RedisHost),
				"port":                   resource.NewProperty(float64(RedisPort)),
				"authString":             resource.NewProperty(RedisAuthString),
				"serverCaCerts":          resource.NewProperty(certs),
				"currentLocationId":      resource.NewProperty(m.Region + "-b"),
				"persistenceIamIdentity": resource.NewProperty("serviceAccount:mock@redis"),
			}
		},
		"gcp:compute/globalAddress:GlobalAddress": func(m *Mocks, r Resource) resource.PropertyMap {
			return resource.PropertyMap{"address": resource.NewProperty(AddressIP)}
		},
		"gcp:cloudrunv2/service:Service": func(m *Mocks, r Resource) resource.PropertyMap {
			name := r.Name + "-" + Suffix(r.Name)
			if r.HasInput("name") {
				name = r.Str("name")
			}
			return resource.PropertyMap{
				"uri":      resource.NewProperty(fmt.Sprintf("https://%s-%s.a.run.app", name, Suffix(name))),
				"urls":     resource.NewProperty([]resource.PropertyValue{resource.NewProperty(fmt.Sprintf("https://%s-%s.a.run.app", name, Suffix(name)))}),
				"uid":      resource.NewProperty(Suffix("uid" + name)),
				"location": resource.NewProperty(m.Region),
			}
		},
		"gcp:artifactregistry/repository:Repository": func(m *Mocks, r Resource) resource.PropertyMap {
			loc := m.Region
			if r.HasInput("location") {
				loc = r.Str("location")
			}
			return resource.PropertyMap{
				"location": resource.NewProperty(loc),
				"name":     resource.NewProperty(r.Str("repositoryId")),
			}
		},
		"gcp:firestore/database:Database": func(m *Mocks, r Resource) resource.PropertyMap {
			return resource.PropertyMap{"uid": resource.NewProperty(Suffix("db" + r.Name))}
		},
		"gcp:serviceaccount/account:Account": func(m *Mocks, r Resource) resource.PropertyMap {
			email := fmt.Sprintf("%s@%s.iam.gserviceaccount.com", r.Str("accountId"), m.Project)
			return resource.PropertyMap{
				"email":    resource.NewProperty(email),
				"member":   resource.NewProperty("serviceAccount:" + email),
				"name":     resource.NewProperty(fmt.Sprintf("projects/%s/serviceAccounts/%s", m.Project, email)),
				"uniqueId": resource.NewProperty("1000000000000000" + Suffix(r.Name)[:4]),
			}
		},
		"gcp:secretmanager/secret:Secret": func(m *Mocks, r Resource) resource.PropertyMap {
			return resource.PropertyMap{
				"name": resource.NewProperty(fmt.Sprintf("projects/%s/secrets/%s", m.ProjectNumber, r.Str("secretId"))),
			}
		},
		"gcp:secretmanager/secretVersion:SecretVersion": func(m *Mocks, r Resource) resource.PropertyMap {
			return resource.PropertyMap{
				"name":    resource.NewProperty(r.Str("secret") + "/versions/1"),
				"version": resource.NewProperty("1"),
			}
		},
		// Cloud Monitoring names its resources itself; the provider's id is that name.
		"gcp:monitoring/dashboard:Dashboard": func(m *Mocks, r Resource) resource.PropertyMap {
			return resource.PropertyMap{"name": resource.NewProperty(fmt.Sprintf("projects/%s/dashboards/%s", m.ProjectNumber, uuidOf(r.Name)))}
		},
		"gcp:monitoring/notificationChannel:NotificationChannel": func(m *Mocks, r Resource) resource.PropertyMap {
			return resource.PropertyMap{
				"name":               resource.NewProperty(fmt.Sprintf("projects/%s/notificationChannels/%s", m.Project, digitsOf(r.Name))),
				"verificationStatus": resource.NewProperty("VERIFICATION_STATUS_UNSPECIFIED"),
			}
		},
		"gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig": func(m *Mocks, r Resource) resource.PropertyMap {
			id := r.Name + "-" + Suffix(r.Name)
			return resource.PropertyMap{
				"name":          resource.NewProperty(fmt.Sprintf("projects/%s/uptimeCheckConfigs/%s", m.Project, id)),
				"uptimeCheckId": resource.NewProperty(id),
			}
		},
		"gcp:monitoring/alertPolicy:AlertPolicy": func(m *Mocks, r Resource) resource.PropertyMap {
			return resource.PropertyMap{"name": resource.NewProperty(fmt.Sprintf("projects/%s/alertPolicies/%s", m.Project, digitsOf(r.Name)))}
		},
		"gcp:monitoring/customService:CustomService": func(m *Mocks, r Resource) resource.PropertyMap {
			id := Suffix("svc" + r.Name)
			return resource.PropertyMap{
				"serviceId": resource.NewProperty(id),
				"name":      resource.NewProperty(fmt.Sprintf("projects/%s/services/%s", m.ProjectNumber, id)),
			}
		},
		"gcp:monitoring/slo:Slo": func(m *Mocks, r Resource) resource.PropertyMap {
			id := Suffix("slo" + r.Name)
			return resource.PropertyMap{
				"sloId": resource.NewProperty(id),
				"name":  resource.NewProperty(fmt.Sprintf("projects/%s/services/%s/serviceLevelObjectives/%s", m.ProjectNumber, r.Str("service"), id)),
			}
		},
		"random:index/randomId:RandomId": func(m *Mocks, r Resource) resource.PropertyMap {
			n := 8
			if v, ok := r.Input("byteLength"); ok && v.IsNumber() {
				n = int(v.NumberValue())
			}
			sum := sha256.Sum256([]byte(r.Name))
			b := sum[:min(n, len(sum))]
			return resource.PropertyMap{
				"hex":    resource.NewProperty(hex.EncodeToString(b)),
				"b64Url": resource.NewProperty(base64.RawURLEncoding.EncodeToString(b)),
				"b64Std": resource.NewProperty(base64.StdEncoding.EncodeToString(b)),
				"dec":    resource.NewProperty(new(big.Int).SetBytes(b).String()),
			}
		},
		"random:index/randomString:RandomString": func(m *Mocks, r Resource) resource.PropertyMap {
			n := 8
			if v, ok := r.Input("length"); ok && v.IsNumber() {
				n = int(v.NumberValue())
			}
			s := Suffix(r.Name) + Suffix(r.Name+"2") + Suffix(r.Name+"3")
			return resource.PropertyMap{"result": resource.NewProperty(s[:min(n, len(s))])}
		},
	}
}

// uuidOf is a deterministic stand-in for the UUIDs Monitoring gives dashboards.
func uuidOf(name string) string {
	h := sha256.Sum256([]byte(name))
	x := hex.EncodeToString(h[:16])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

// digitsOf is a deterministic stand-in for the numeric ids of alert policies and channels.
func digitsOf(name string) string {
	h := sha256.Sum256([]byte(name))
	return new(big.Int).SetBytes(h[:8]).String()
}

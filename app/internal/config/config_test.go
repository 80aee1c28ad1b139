package config

import (
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadDefaultsRunInMemory(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 8080 || c.SessionTTL != 24*time.Hour || c.SlowBackendDelay != 300*time.Millisecond ||
		c.CacheSize != DefaultCacheSize || c.CacheTTL != DefaultCacheTTL || c.CookieSecure || !c.InMemory() ||
		c.TelemetryExporter != "none" || c.TraceRatio != DefaultTraceRatio {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestLoadCookieSecureDefaultsOnCloudRun(t *testing.T) {
	c, err := Load(env(map[string]string{"K_SERVICE": "app"}))
	if err != nil || !c.CookieSecure || !c.OnCloudRun || c.TelemetryExporter != "gcp" {
		t.Fatalf("on Cloud Run: %+v, %v", c, err)
	}
	c, err = Load(env(map[string]string{"K_SERVICE": "app", "COOKIE_SECURE": "false"}))
	if err != nil || c.CookieSecure {
		t.Fatalf("COOKIE_SECURE=false: %+v, %v", c, err)
	}
}

func TestLoadReportsEveryBadVariableByName(t *testing.T) {
	_, err := Load(env(map[string]string{
		"PORT": "eighty", "SESSION_TTL": "1 day", "SLOW_BACKEND_DELAY": "-1s", "CACHE_SIZE": "0",
		"CACHE_TTL": "soon", "COOKIE_SECURE": "yes please", "REDIS_ADDR": "redis",
		"REDIS_TLS_CA": "not pem", "FIRESTORE_DATABASE": "carts", "SESSIONS_FIRESTORE": "on", "OTEL_EXPORTER": "otlp",
		"OTEL_TRACES_SAMPLER_ARG": "1.5",
	}))
	if err == nil {
		t.Fatal("want an error")
	}
	for _, name := range []string{"PORT", "SESSION_TTL", "SLOW_BACKEND_DELAY", "CACHE_SIZE", "CACHE_TTL",
		"COOKIE_SECURE", "REDIS_ADDR", "REDIS_TLS_CA", "GOOGLE_CLOUD_PROJECT", "SESSIONS_FIRESTORE", "OTEL_EXPORTER", "OTEL_TRACES_SAMPLER_ARG"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestLoadReadsEveryVariable(t *testing.T) {
	c, err := Load(env(map[string]string{
		"PORT": "9090", "REDIS_ADDR": "10.0.0.3:6378", "REDIS_PASSWORD": "pw", "GOOGLE_CLOUD_PROJECT": "p",
		"FIRESTORE_DATABASE": "db", "FIRESTORE_EMULATOR_HOST": "127.0.0.1:1", "SESSION_TTL": "1h",
		"SLOW_BACKEND_DELAY": "0s", "CACHE_SIZE": "10", "CACHE_TTL": "1s", "COOKIE_SECURE": "true",
		"INSTANCE_ID": "i-0", "SESSIONS_FIRESTORE": "true", "OTEL_EXPORTER": "stdout", "OTEL_TRACES_SAMPLER_ARG": "0.25",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Port: 9090, RedisAddr: "10.0.0.3:6378", RedisPassword: "pw", Project: "p",
		FirestoreDatabase: "db", FirestoreEmulatorHost: "127.0.0.1:1", SessionTTL: time.Hour,
		SlowBackendDelay: 0, CacheSize: 10, CacheTTL: time.Second, CookieSecure: true, InstanceID: "i-0", SessionsFirestore: true,
		TelemetryExporter: "stdout", TraceRatio: 0.25}
	if c != want {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
	if c.InMemory() {
		t.Fatal("InMemory with REDIS_ADDR and FIRESTORE_DATABASE set")
	}
}

func TestLoadLeavesTheProjectToTheMetadataServerOnCloudRun(t *testing.T) {
	c, err := Load(env(map[string]string{"K_SERVICE": "app", "FIRESTORE_DATABASE": "carts"}))
	if err != nil || c.Project != "" {
		t.Fatalf("got %+v, %v", c, err)
	}
}

// Sessions in Firestore are cached in the region's Redis: one without the other is refused at
// start-up rather than quietly running single-region sessions in a multi-region stack.
func TestLoadSessionsFirestoreNeedsFirestoreAndRedis(t *testing.T) {
	for _, m := range []map[string]string{
		{"SESSIONS_FIRESTORE": "true"},
		{"SESSIONS_FIRESTORE": "true", "FIRESTORE_DATABASE": "db", "GOOGLE_CLOUD_PROJECT": "p"},
		{"SESSIONS_FIRESTORE": "true", "REDIS_ADDR": "10.0.0.3:6378"},
	} {
		if _, err := Load(env(m)); err == nil || !strings.Contains(err.Error(), "SESSIONS_FIRESTORE=true: needs FIRESTORE_DATABASE and REDIS_ADDR") {
			t.Errorf("%v: got %v", m, err)
		}
	}
	c, err := Load(env(map[string]string{"REDIS_ADDR": "10.0.0.3:6378", "FIRESTORE_DATABASE": "db", "GOOGLE_CLOUD_PROJECT": "p"}))
	if err != nil || c.SessionsFirestore {
		t.Fatalf("unset: %+v, %v; want sessions in Redis only", c, err)
	}
}

// Package config reads the app's settings from the environment. Every value that cannot be
// parsed is reported at once, naming the variable, so start-up stops with one clear message.
package config

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is the whole environment contract of the app.
type Config struct {
	Port                  int
	RedisAddr             string
	RedisPassword         string
	RedisTLSCA            string // PEM; when set, TLS with exactly these roots
	Project               string // GOOGLE_CLOUD_PROJECT
	FirestoreDatabase     string
	FirestoreEmulatorHost string
	SessionTTL            time.Duration
	SlowBackendDelay      time.Duration
	CacheSize             int
	CacheTTL              time.Duration
	CookieSecure          bool
	InstanceID            string
	OnCloudRun            bool // K_SERVICE is set
	// SessionsFirestore writes every session through to Firestore, with Redis as the region's
	// cache of them (SESSIONS_FIRESTORE=true, set by multi-region stacks): a client that moves to
	// another region keeps its session, and losing a region loses none.
	SessionsFirestore bool
	// Telemetry: where metrics and traces go, and the share of requests traced.
	TelemetryExporter string  // OTEL_EXPORTER: gcp, stdout or none
	TraceRatio        float64 // OTEL_TRACES_SAMPLER_ARG
}

// Defaults used when a variable is unset.
const (
	DefaultPort             = 8080
	DefaultSessionTTL       = 24 * time.Hour
	DefaultSlowBackendDelay = 300 * time.Millisecond
	DefaultCacheSize        = 1024
	DefaultCacheTTL         = 5 * time.Minute
	DefaultTraceRatio       = 0.1
)

// Telemetry exporters (OTEL_EXPORTER); the default is gcp on Cloud Run, none elsewhere.
var TelemetryExporters = []string{"gcp", "stdout", "none"}

// InMemory reports whether the app runs on its embedded in-memory stores.
func (c Config) InMemory() bool { return c.RedisAddr == "" && c.FirestoreDatabase == "" }

// Load reads the configuration through getenv (os.Getenv in production).
func Load(getenv func(string) string) (Config, error) {
	p := parser{getenv: getenv}
	c := Config{
		Port:                  p.intIn("PORT", DefaultPort, 1, 65535),
		RedisAddr:             strings.TrimSpace(getenv("REDIS_ADDR")),
		RedisPassword:         getenv("REDIS_PASSWORD"),
		RedisTLSCA:            getenv("REDIS_TLS_CA"),
		Project:               strings.TrimSpace(getenv("GOOGLE_CLOUD_PROJECT")),
		FirestoreDatabase:     strings.TrimSpace(getenv("FIRESTORE_DATABASE")),
		FirestoreEmulatorHost: strings.TrimSpace(getenv("FIRESTORE_EMULATOR_HOST")),
		SessionTTL:            p.duration("SESSION_TTL", DefaultSessionTTL, time.Minute),
		SlowBackendDelay:      p.duration("SLOW_BACKEND_DELAY", DefaultSlowBackendDelay, 0),
		CacheSize:             p.intIn("CACHE_SIZE", DefaultCacheSize, 1, 10_000_000),
		CacheTTL:              p.duration("CACHE_TTL", DefaultCacheTTL, time.Millisecond),
		InstanceID:            strings.TrimSpace(getenv("INSTANCE_ID")),
		OnCloudRun:            getenv("K_SERVICE") != "",
	}
	// Secure cookies by default where traffic is HTTPS (Cloud Run), plain for local http runs.
	c.CookieSecure = p.boolean("COOKIE_SECURE", c.OnCloudRun)
	c.SessionsFirestore = p.boolean("SESSIONS_FIRESTORE", false)
	exporter := "none"
	if c.OnCloudRun {
		exporter = "gcp"
	}
	c.TelemetryExporter = p.oneOf("OTEL_EXPORTER", exporter, TelemetryExporters)
	c.TraceRatio = p.ratio("OTEL_TRACES_SAMPLER_ARG", DefaultTraceRatio)

	if c.RedisAddr != "" && !strings.Contains(c.RedisAddr, ":") {
		p.fail("REDIS_ADDR", c.RedisAddr, "host:port, e.g. 10.0.0.3:6378")
	}
	if c.RedisTLSCA != "" && !x509.NewCertPool().AppendCertsFromPEM([]byte(c.RedisTLSCA)) {
		p.fail("REDIS_TLS_CA", "(PEM text)", "one or more PEM CERTIFICATE blocks")
	}
	// On Cloud Run the project can come from the metadata server; elsewhere it must be given.
	if c.FirestoreDatabase != "" && c.Project == "" && c.FirestoreEmulatorHost == "" && !c.OnCloudRun {
		p.errs = append(p.errs, errors.New("GOOGLE_CLOUD_PROJECT: must be set when FIRESTORE_DATABASE is set"))
	}
	// Sessions written through to Firestore need both tiers: a cache without its store, or a
	// store without the region's cache, is not the multi-region design.
	if c.SessionsFirestore && (c.FirestoreDatabase == "" || c.RedisAddr == "") {
		p.errs = append(p.errs, errors.New("SESSIONS_FIRESTORE=true: needs FIRESTORE_DATABASE and REDIS_ADDR (sessions in Firestore, cached in the region's Redis)"))
	}
	if len(p.errs) > 0 {
		return Config{}, fmt.Errorf("configuration: %w", errors.Join(p.errs...))
	}
	return c, nil
}

type parser struct {
	getenv func(string) string
	errs   []error
}

func (p *parser) fail(name, value, allowed string) {
	p.errs = append(p.errs, fmt.Errorf("%s=%q: want %s", name, value, allowed))
}

func (p *parser) intIn(name string, def, lo, hi int) int {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		p.fail(name, v, fmt.Sprintf("an integer from %d to %d", lo, hi))
		return def
	}
	return n
}

func (p *parser) duration(name string, def, lo time.Duration) time.Duration {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo {
		p.fail(name, v, fmt.Sprintf("a Go duration of at least %s, e.g. 300ms, 5m, 24h", lo))
		return def
	}
	return d
}

func (p *parser) oneOf(name, def string, allowed []string) string {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	if !slices.Contains(allowed, v) {
		p.fail(name, v, "one of "+strings.Join(allowed, ", "))
		return def
	}
	return v
}

func (p *parser) ratio(name string, def float64) float64 {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f >= 0 && f <= 1) {
		p.fail(name, v, "a number from 0 to 1, e.g. 0.1")
		return def
	}
	return f
}

func (p *parser) boolean(name string, def bool) bool {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(name, v, "true or false")
		return def
	}
	return b
}

package infra

import (
	"fmt"
	"regexp"

	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/firestore"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Where the app keeps carts and the timestamp it expires them by (see app/: the cart store).
const (
	CartsCollection = "carts"
	CartsTTLField   = "expireAt"
	// SessionsCollection holds a copy of every session when the stack runs in several regions
	// (each region's Redis caches them; see the README's data design), expiring on the same field.
	SessionsCollection = "sessions"
)

// Firestore is a named native-mode database (not "(default)", which may already exist in the
// project) with a TTL policy on the carts' expiry field.
type Firestore struct {
	pulumi.ResourceState
	// DatabaseName is the database id the app opens (FIRESTORE_DATABASE).
	DatabaseName pulumi.StringOutput `pulumi:"databaseName"`
}

// FirestoreArgs configures the database.
type FirestoreArgs struct {
	Location            string // e.g. europe-west1 or nam5
	NamePrefix          string // the id is NamePrefix-<6 hex>: a deleted id cannot be reused for a while
	PointInTimeRecovery bool
	DeleteProtection    bool // also decides whether `pulumi destroy` deletes (false) or abandons (true) it
	// SessionsTTL adds the TTL policy for the sessions collection (multi-region stacks).
	SessionsTTL bool
	DependsOn   []pulumi.Resource
}

// ConcurrencyMode is optimistic. The default for a Standard edition database, PESSIMISTIC,
// has a server client's transaction lock what it reads until it commits or expires: a
// transaction begun by an instance that then vanished (a kill, a lost region) holds the cart
// it read, and the moved user's next write waits behind it. Optimistic transactions take no
// locks; a conflict aborts the later commit and the client retries it (the app allows 20
// attempts), which suits carts that one user writes. Firestore Admin API Database.
// ConcurrencyMode; "Transaction data contention" in the Firestore docs. The provider updates
// it in place (concurrency_mode is not ForceNew in terraform-provider-google-beta's
// resource_firestore_database.go), so existing databases keep their data.
const ConcurrencyMode = "OPTIMISTIC"

var (
	locationPattern = regexp.MustCompile(`^[a-z][a-z0-9-]*[0-9]$`)
	dbPrefixPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{2,55}$`)
)

// Validate checks the location and the name prefix.
func (a FirestoreArgs) Validate() error {
	var p problems
	if !locationPattern.MatchString(a.Location) {
		p.addf("Location %q is not a Firestore location; use a region (e.g. europe-west1) or multi-region (nam5, eur3)", a.Location)
	}
	if !dbPrefixPattern.MatchString(a.NamePrefix) {
		p.addf("NamePrefix %q is not allowed; use 3-56 lowercase letters, digits or -, starting with a letter", a.NamePrefix)
	}
	return p.err()
}

// NewFirestore creates the database and its TTL policy.
func NewFirestore(ctx *pulumi.Context, name string, args FirestoreArgs, opts ...pulumi.ResourceOption) (*Firestore, error) {
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("firestore %q: %w", name, err)
	}
	c := &Firestore{}
	if err := ctx.RegisterComponentResource(typePrefix+"Firestore", name, c, opts...); err != nil {
		return nil, err
	}
	// A stable random suffix: created once, kept in state, so the id only changes if this
	// resource is replaced.
	suffix, err := random.NewRandomId(ctx, name+"-suffix", &random.RandomIdArgs{
		ByteLength: pulumi.Int(3),
	}, pulumi.Parent(c))
	if err != nil {
		return nil, err
	}
	pitr, protect, deletion := "POINT_IN_TIME_RECOVERY_DISABLED", "DELETE_PROTECTION_DISABLED", "DELETE"
	if args.PointInTimeRecovery {
		pitr = "POINT_IN_TIME_RECOVERY_ENABLED"
	}
	if args.DeleteProtection {
		// A protected database cannot be deleted, so destroy leaves it (ABANDON) instead of failing.
		protect, deletion = "DELETE_PROTECTION_ENABLED", "ABANDON"
	}
	db, err := firestore.NewDatabase(ctx, name, &firestore.DatabaseArgs{
		Name:                          pulumi.Sprintf("%s-%s", args.NamePrefix, suffix.Hex),
		LocationId:                    pulumi.String(args.Location),
		Type:                          pulumi.String("FIRESTORE_NATIVE"),
		ConcurrencyMode:               pulumi.String(ConcurrencyMode),
		PointInTimeRecoveryEnablement: pulumi.String(pitr),
		DeleteProtectionState:         pulumi.String(protect),
		DeletionPolicy:                pulumi.String(deletion),
	}, ChildOptions(c, args.DependsOn)...)
	if err != nil {
		return nil, err
	}
	// Firestore deletes expired carts within about a day of expireAt; the app still checks expiry.
	// The empty IndexConfig exempts the field from indexing, as Google advises for TTL
	// timestamps (ever-increasing values make index hotspots); the app never queries by it.
	// Deleting a field resource resets the field's configuration, TTL included: when destroy
	// keeps the database (delete protection), it keeps the TTL policy too, or the kept
	// database would stop expiring carts.
	collections := []string{CartsCollection}
	if args.SessionsTTL {
		collections = append(collections, SessionsCollection)
	}
	for _, collection := range collections {
		if _, err := firestore.NewField(ctx, name+"-"+collection+"-ttl", &firestore.FieldArgs{
			Database:    db.Name,
			Collection:  pulumi.String(collection),
			Field:       pulumi.String(CartsTTLField),
			TtlConfig:   &firestore.FieldTtlConfigArgs{},
			IndexConfig: &firestore.FieldIndexConfigArgs{},
		}, pulumi.Parent(c), pulumi.RetainOnDelete(args.DeleteProtection)); err != nil {
			return nil, err
		}
	}
	c.DatabaseName = db.Name
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{"databaseName": c.DatabaseName})
}

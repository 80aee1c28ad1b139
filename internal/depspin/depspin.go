// Package depspin keeps the project's planned dependencies in go.mod while the code that uses
// them is being written. Delete it once every import below has a real user.
package depspin

import (
	_ "cloud.google.com/go/firestore"
	_ "github.com/alexedwards/scs/goredisstore"
	_ "github.com/alexedwards/scs/v2"
	_ "github.com/chromedp/chromedp"
	_ "github.com/coder/websocket"
	_ "github.com/google/go-containerregistry/pkg/registry"
	_ "github.com/google/go-containerregistry/pkg/v1/google"
	_ "github.com/google/go-containerregistry/pkg/v1/mutate"
	_ "github.com/google/go-containerregistry/pkg/v1/remote"
	_ "github.com/hashicorp/golang-lru/v2/expirable"
	_ "github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/artifactregistry"
	_ "github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/cloudrunv2"
	_ "github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/compute"
	_ "github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/firestore"
	_ "github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/iam"
	_ "github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/projects"
	_ "github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/redis"
	_ "github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/secretmanager"
	_ "github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/serviceaccount"
	_ "github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/storage"
	_ "github.com/pulumi/pulumi-random/sdk/v4/go/random"
	_ "github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	_ "github.com/redis/go-redis/v9"
	_ "golang.org/x/crypto/x509roots/fallback"
)

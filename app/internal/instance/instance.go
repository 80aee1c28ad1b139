// Package instance names the process serving a request, so responses and logs show which
// Cloud Run instance session affinity pinned a client to.
package instance

import (
	"context"
	"fmt"
	"os"
	"time"

	"cloud.google.com/go/compute/metadata"
)

// Identity is who this process is and where that name came from.
type Identity struct {
	ID      string
	Source  string // "metadata", "INSTANCE_ID" or "host+pid"
	Project string // from the metadata server on Cloud Run, else empty
}

// Resolve returns the Cloud Run instance id from the metadata server when onCloudRun, else
// fromEnv (INSTANCE_ID) when set, else host name and pid. A metadata failure falls back to
// the next source and is returned as the error, for the caller to log.
func Resolve(ctx context.Context, onCloudRun bool, fromEnv string) (Identity, error) {
	var metaErr error
	if onCloudRun {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		id, err := metadata.InstanceIDWithContext(ctx)
		if err == nil && id != "" {
			project, _ := metadata.ProjectIDWithContext(ctx)
			return Identity{ID: id, Source: "metadata", Project: project}, nil
		}
		metaErr = fmt.Errorf("instance id from the metadata server: %v", err)
	}
	if fromEnv != "" {
		return Identity{ID: fromEnv, Source: "INSTANCE_ID"}, metaErr
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return Identity{ID: fmt.Sprintf("%s-%d", host, os.Getpid()), Source: "host+pid"}, metaErr
}

package instance

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

func TestResolvePrefersInstanceIDOffCloudRun(t *testing.T) {
	id, err := Resolve(context.Background(), false, "i-3")
	if err != nil || id.ID != "i-3" || id.Source != "INSTANCE_ID" {
		t.Fatalf("got %+v, %v", id, err)
	}
}

func TestResolveFallsBackToHostAndPid(t *testing.T) {
	id, err := Resolve(context.Background(), false, "")
	host, _ := os.Hostname()
	if err != nil || id.ID != fmt.Sprintf("%s-%d", host, os.Getpid()) || id.Source != "host+pid" {
		t.Fatalf("got %+v, %v", id, err)
	}
}

func TestResolveAsksTheMetadataServerOnCloudRun(t *testing.T) {
	// Point the metadata client at a closed port: the lookup must fail and say so, and the
	// id must come from the next source instead of being empty.
	t.Setenv("GCE_METADATA_HOST", "127.0.0.1:1")
	id, err := Resolve(context.Background(), true, "i-9")
	if err == nil {
		t.Fatal("want the metadata error reported")
	}
	if id.ID != "i-9" {
		t.Fatalf("fallback id: got %+v", id)
	}
}

func TestResolveUsesTheMetadataInstanceID(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata-Flavor") != "Google" {
			http.Error(w, "missing Metadata-Flavor", http.StatusForbidden)
			return
		}
		switch r.URL.Path {
		case "/computeMetadata/v1/instance/id":
			fmt.Fprint(w, "00f00d")
		case "/computeMetadata/v1/project/project-id":
			fmt.Fprint(w, "my-project")
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	t.Setenv("GCE_METADATA_HOST", strings.TrimPrefix(srv.URL, "http://"))
	id, err := Resolve(context.Background(), true, "i-9")
	if err != nil || id != (Identity{ID: "00f00d", Source: "metadata", Project: "my-project"}) {
		t.Fatalf("got %+v, %v", id, err)
	}
}

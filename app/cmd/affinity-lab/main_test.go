package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestBadFlagsAreUsageErrorsNamingTheSetting(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--instances", "0"}, "instances must be 1..16, got 0"},
		{[]string{"--kill", "--instances", "1"}, "kill needs at least 2 instances"},
		{[]string{"--duration", "-1s"}, "duration must be in (0, 10m]"},
		{[]string{"--clients", "0", "--queries", "0"}, "queries must be 1..1000, got 0"},
		{[]string{"extra"}, "unexpected arguments"},
		{[]string{"--kill-region"}, "kill-region needs at least 2 regions, got 1"},
		{[]string{"--regions", "6"}, "regions must be 1..5, got 6"},
		{[]string{"--restart-redis", "--kill"}, "one fault each: choose one"},
		{[]string{"--redis-persistence", "always"}, `redis-persistence must be off, rdb or aof, got "always"`},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), c.args, &out, &errOut)
		var usage usageError
		if !errors.As(err, &usage) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("run(%q) = %v, want a usage error saying %q", c.args, err, c.want)
		}
		if strings.Contains(errOut.String(), "building the app") {
			t.Errorf("run(%q) started the environment despite bad flags", c.args)
		}
	}
}

package infra_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
)

func TestLabelProblemsFollowGoogleCloudsLabelRules(t *testing.T) {
	ok := map[string]string{"team": "shop", "cost_center": "cc-42", "empty": "", "a": strings.Repeat("v", 63)}
	if p := infra.LabelProblems(ok); len(p) != 0 {
		t.Errorf("valid labels refused: %v", p)
	}
	for _, tc := range []struct {
		labels map[string]string
		want   string
	}{
		{map[string]string{"Team": "x"}, `key "Team" is not allowed`},
		{map[string]string{"1team": "x"}, `key "1team" is not allowed`},
		{map[string]string{strings.Repeat("k", 64): "x"}, "is not allowed"},
		{map[string]string{"team": "Shop"}, `value "Shop" of "team"`},
		{map[string]string{"team": "a.b"}, `value "a.b"`},
		{map[string]string{"team": strings.Repeat("v", 64)}, "at most 63"},
		{map[string]string{"stack": "x"}, `key "stack" is set by the stack`},
		{map[string]string{"managed-by": "me"}, `key "managed-by" is set by the stack`},
	} {
		if p := strings.Join(infra.LabelProblems(tc.labels), "; "); !strings.Contains(p, tc.want) {
			t.Errorf("%v: problems %q, want %q", tc.labels, p, tc.want)
		}
	}
	many := map[string]string{}
	for i := 0; i < 62; i++ {
		many[fmt.Sprintf("k%d", i)] = "v"
	}
	if p := infra.LabelProblems(many); len(p) != 1 || !strings.Contains(p[0], "allows 64") {
		t.Errorf("62 user labels + 3 of the stack's: %v, want one problem naming the limit of 64", p)
	}
}

func TestStackLabelsKeepTheStacksOwn(t *testing.T) {
	got := infra.StackLabels("cloudrun-affinity", "dev", map[string]string{"team": "shop", "stack": "mine"})
	want := map[string]string{"app": "cloudrun-affinity", "stack": "dev", "managed-by": "pulumi", "team": "shop"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("StackLabels = %v, want %v", got, want)
	}
}

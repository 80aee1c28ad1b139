// Package infratest runs Pulumi programs on the SDK's mock runtime and records what the cloud
// would receive: every registered resource with its type, name, inputs, parent, dependencies and
// options. The mock answers like the real providers on a first deployment: in preview (dry run)
// computed outputs are unknown; in update they get plausible values.
//
//	res := infratest.MustRun(t, infratest.Update, program,
//		infratest.WithConfig(infratest.Config{"gcp:project": "p", "gcp:region": "europe-west1"}))
//	svc := res.One(t, "gcp:cloudrunv2/service:Service")
//	svc.Str("template.containers[0].image") // input by path
//	svc.Parent, svc.Dependencies            // URNs
//	res.Export(t, "url").String()           // awaited stack export (Value: Known, Secret)
//	infratest.AwaitString(t, component.Url) // await any output
//
// Use infratest.EachMode to run a test in preview and update mode.
package infratest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// Resource is one resource registration as the engine received it.
type Resource struct {
	URN    string
	Type   string // type token, e.g. "gcp:redis/instance:Instance"
	Name   string // logical name
	ID     string // "" in preview (unknown) for custom resources
	Custom bool   // false for component resources

	Inputs  resource.PropertyMap
	Outputs resource.PropertyMap // what the mock answered

	Parent               string              // parent URN ("" only for the stack)
	Aliases              []string            // URNs this resource was known by before (pulumi.Aliases)
	Dependencies         []string            // URNs of every dependency (data flow and DependsOn)
	PropertyDependencies map[string][]string // input property -> URNs it was computed from
	Provider             string              // provider reference, "" for the default provider

	Protect                 bool
	RetainOnDelete          bool
	DeleteBeforeReplace     bool
	DeletedWith             string
	IgnoreChanges           []string
	ReplaceOnChanges        []string
	AdditionalSecretOutputs []string
}

// Input looks up an input by path ("template.containers[0].image"); see Lookup.
func (r Resource) Input(path string) (resource.PropertyValue, bool) { return Lookup(r.Inputs, path) }

// Output looks up an output by path; see Lookup.
func (r Resource) Output(path string) (resource.PropertyValue, bool) { return Lookup(r.Outputs, path) }

// InputString is the input at path rendered with Format ("<absent>" when missing).
func (r Resource) InputString(path string) string {
	v, ok := r.Input(path)
	if !ok {
		return "<absent>"
	}
	return Format(v)
}

// Str is the input at path as a plain string, looking through secrets ("" when missing or
// not a string).
func (r Resource) Str(path string) string {
	v, ok := r.Input(path)
	if !ok {
		return ""
	}
	v = unwrapSecret(v)
	if !v.IsString() {
		return ""
	}
	return v.StringValue()
}

// HasInput reports whether the input at path is present and not null.
func (r Resource) HasInput(path string) bool {
	v, ok := r.Input(path)
	return ok && !v.IsNull()
}

// DependsOn reports whether urn is among the resource's dependencies.
func (r Resource) DependsOn(urn string) bool {
	for _, d := range r.Dependencies {
		if d == urn {
			return true
		}
	}
	return false
}

// Call is one invoke (data source call) the program made.
type Call struct {
	Token string
	Args  resource.PropertyMap
}

// OutputFunc returns the outputs the cloud would report for a resource after creation,
// beyond its inputs. It is only consulted in update mode.
type OutputFunc func(m *Mocks, r Resource) resource.PropertyMap

// InvokeFunc answers an invoke.
type InvokeFunc func(args pulumi.MockCallArgs) (resource.PropertyMap, error)

// Mocks is a pulumi.MockResourceMonitor that records every registration.
// Create it with NewMocks; Run does that for you.
type Mocks struct {
	PulumiProject string // Pulumi project and stack, used to build URNs like the engine does
	Stack         string

	Project       string // Google Cloud project id used in computed outputs (from gcp:project)
	ProjectNumber string
	Region        string // from gcp:region
	DryRun        bool

	// Outputs overrides or adds computed outputs per type token.
	Outputs map[string]OutputFunc
	// Invokes answers invokes per token; unknown tokens fail the call.
	Invokes map[string]InvokeFunc

	mu        sync.Mutex
	resources []Resource
	calls     []Call
}

var _ pulumi.MockResourceMonitor = (*Mocks)(nil)

// NewMocks returns a recorder with the default cloud-like outputs.
func NewMocks(project, region string, dryRun bool) *Mocks {
	return &Mocks{
		PulumiProject: PulumiProject,
		Stack:         DefaultStack,
		Project:       project,
		ProjectNumber: "123456789012",
		Region:        region,
		DryRun:        dryRun,
		Outputs:       DefaultOutputs(),
		Invokes:       map[string]InvokeFunc{},
	}
}

// NewResource records a registration and answers with inputs plus computed outputs.
func (m *Mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	r := Resource{
		Type:   args.TypeToken,
		Name:   args.Name,
		Custom: args.Custom,
		Inputs: args.Inputs.Copy(),
	}
	if rpc := args.RegisterRPC; rpc != nil {
		// The mock monitor drops unknown inputs; read them again from the request so a
		// preview shows which inputs are still unknown.
		if full, err := plugin.UnmarshalProperties(rpc.GetObject(), plugin.MarshalOptions{
			KeepUnknowns: true, KeepSecrets: true, KeepResources: true,
		}); err == nil {
			r.Inputs = full
		}
		r.Parent = rpc.GetParent()
		r.Dependencies = append([]string(nil), rpc.GetDependencies()...)
		sort.Strings(r.Dependencies)
		r.PropertyDependencies = map[string][]string{}
		for k, v := range rpc.GetPropertyDependencies() {
			urns := append([]string(nil), v.GetUrns()...)
			sort.Strings(urns)
			r.PropertyDependencies[k] = urns
		}
		r.Provider = rpc.GetProvider()
		r.Protect = rpc.GetProtect()
		r.RetainOnDelete = rpc.GetRetainOnDelete()
		r.DeleteBeforeReplace = rpc.GetDeleteBeforeReplace()
		r.DeletedWith = rpc.GetDeletedWith()
		r.IgnoreChanges = rpc.GetIgnoreChanges()
		r.ReplaceOnChanges = rpc.GetReplaceOnChanges()
		r.AdditionalSecretOutputs = rpc.GetAdditionalSecretOutputs()
	}
	r.URN = urnOf(m.PulumiProject, m.Stack, r.Parent, r.Type, r.Name)
	if rpc := args.RegisterRPC; rpc != nil {
		r.Aliases = m.aliasURNs(r, rpc)
	}
	r.Aliases = append(r.Aliases, m.inheritedAliases(r)...)
	sort.Strings(r.Aliases)

	outputs := knownOnly(args.Inputs)
	id := ""
	if !m.DryRun && r.Custom {
		for k, v := range m.computed(r) {
			if _, set := outputs[k]; !set || outputs[k].IsNull() {
				outputs[k] = v
			}
		}
		id = r.Name + "-id"
		if n, ok := outputs["name"]; ok && n.IsString() {
			id = n.StringValue()
		}
	}
	if m.DryRun && r.Custom && len(r.AdditionalSecretOutputs) > 0 {
		// The mock monitor cannot carry an unknown secret (it fails with "malformed RPC
		// secret"), so in preview the outputs a provider marks secret are returned known.
		computed := m.computed(r)
		for _, k := range r.AdditionalSecretOutputs {
			if v, ok := computed[resource.PropertyKey(k)]; ok {
				if _, set := outputs[resource.PropertyKey(k)]; !set {
					outputs[resource.PropertyKey(k)] = v
				}
			}
		}
	}
	for _, k := range r.AdditionalSecretOutputs {
		if v, ok := outputs[resource.PropertyKey(k)]; ok && !v.IsSecret() {
			outputs[resource.PropertyKey(k)] = resource.MakeSecret(v)
		}
	}
	r.ID = id
	r.Outputs = outputs

	m.mu.Lock()
	m.resources = append(m.resources, r)
	m.mu.Unlock()
	return id, outputs, nil
}

// aliasURNs resolves the aliases of a registration to URNs the way the engine does: a spec's
// missing parts (name, type, stack, project, parent) are the resource's own.
func (m *Mocks) aliasURNs(r Resource, rpc *pulumirpc.RegisterResourceRequest) []string {
	out := append([]string(nil), rpc.GetAliasURNs()...)
	for _, a := range rpc.GetAliases() {
		if urn := a.GetUrn(); urn != "" {
			out = append(out, urn)
			continue
		}
		spec := a.GetSpec()
		if spec == nil {
			continue
		}
		name, typ, stack, project, parent := r.Name, r.Type, m.Stack, m.PulumiProject, r.Parent
		if spec.GetName() != "" {
			name = spec.GetName()
		}
		if spec.GetType() != "" {
			typ = spec.GetType()
		}
		if spec.GetStack() != "" {
			stack = spec.GetStack()
		}
		if spec.GetProject() != "" {
			project = spec.GetProject()
		}
		switch {
		case spec.GetNoParent():
			parent = ""
		case spec.GetParentUrn() != "":
			parent = spec.GetParentUrn()
		}
		out = append(out, urnOf(project, stack, parent, typ, name))
	}
	return out // NewResource sorts them with the inherited ones
}

// inheritedAliases are the URNs a child had under each former URN of its parent: the engine
// gives a child its parent's aliases, so a component that moves takes its children along.
func (m *Mocks) inheritedAliases(r Resource) []string {
	m.mu.Lock()
	var parentAliases []string
	for _, p := range m.resources {
		if p.URN == r.Parent {
			parentAliases = p.Aliases
		}
	}
	m.mu.Unlock()
	var out []string
	for _, pa := range parentAliases {
		out = append(out, urnOf(m.PulumiProject, m.Stack, pa, r.Type, r.Name))
		for _, own := range r.Aliases {
			u := resource.URN(own)
			out = append(out, urnOf(m.PulumiProject, m.Stack, pa, string(u.Type()), u.Name()))
		}
	}
	return out
}

// Call records an invoke and answers it from Invokes.
func (m *Mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	m.mu.Lock()
	m.calls = append(m.calls, Call{Token: args.Token, Args: args.Args.Copy()})
	f := m.Invokes[args.Token]
	m.mu.Unlock()
	if f == nil {
		return nil, fmt.Errorf("infratest: no mock answer for invoke %q (add one to Mocks.Invokes)", args.Token)
	}
	return f(args)
}

func (m *Mocks) computed(r Resource) resource.PropertyMap {
	out := resource.PropertyMap{}
	if strings.HasPrefix(r.Type, "gcp:") {
		out["project"] = resource.NewProperty(m.Project)
		// Resources without a physical name are auto-named by the provider: logical name
		// plus a random suffix.
		if !r.HasInput("name") {
			out["name"] = resource.NewProperty(r.Name + "-" + Suffix(r.Name))
		}
		if strings.HasPrefix(r.Type, "gcp:compute/") {
			name := r.Str("name")
			if !r.HasInput("name") {
				name = out["name"].StringValue()
			}
			out["selfLink"] = resource.NewProperty(fmt.Sprintf(
				"https://www.googleapis.com/compute/v1/projects/%s/%s/%s", m.Project, kindOf(r.Type), name))
		}
	}
	if f := m.Outputs[r.Type]; f != nil {
		for k, v := range f(m, r) {
			out[k] = v
		}
	}
	return out
}

// Resources returns every registration in order.
func (m *Mocks) Resources() []Resource {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Resource(nil), m.resources...)
}

// Calls returns every invoke in order.
func (m *Mocks) Calls() []Call {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Call(nil), m.calls...)
}

// Suffix is the deterministic stand-in for the provider's random auto-name suffix.
func Suffix(name string) string {
	h := sha256.Sum256([]byte(name))
	return hex.EncodeToString(h[:])[:7]
}

func kindOf(typ string) string {
	// "gcp:compute/globalAddress:GlobalAddress" -> "globalAddresses"-ish; only used for links.
	parts := strings.Split(typ, ":")
	return strings.ToLower(parts[len(parts)-1]) + "s"
}

func urnOf(project, stack, parent, typ, name string) string {
	parentType := ""
	if parent != "" {
		if p := resource.URN(parent); p.IsValid() && p.QualifiedType() != resource.RootStackType {
			parentType = string(p.QualifiedType())
		}
	}
	return string(resource.NewURN(tokens.QName(stack), tokens.PackageName(project), tokens.Type(parentType), tokens.Type(typ), name))
}

// knownOnly drops unknown values (and secrets around them) the way the engine leaves them out
// of a preview's state; the mock monitor cannot send them back.
func knownOnly(m resource.PropertyMap) resource.PropertyMap {
	out := resource.PropertyMap{}
	for k, v := range m {
		if kv, ok := known(v); ok {
			out[k] = kv
		}
	}
	return out
}

func known(v resource.PropertyValue) (resource.PropertyValue, bool) {
	switch {
	case v.IsComputed():
		return v, false
	case v.IsOutput():
		if !v.OutputValue().Known {
			return v, false
		}
		return known(v.OutputValue().Element)
	case v.IsSecret():
		e, ok := known(v.SecretValue().Element)
		if !ok || e.IsNull() {
			return v, false
		}
		return resource.MakeSecret(e), true
	case v.IsObject():
		return resource.NewProperty(knownOnly(v.ObjectValue())), true
	case v.IsArray():
		var arr []resource.PropertyValue
		for _, e := range v.ArrayValue() {
			if ke, ok := known(e); ok {
				arr = append(arr, ke)
			} else {
				arr = append(arr, resource.NewNullProperty())
			}
		}
		return resource.NewProperty(arr), true
	}
	return v, true
}

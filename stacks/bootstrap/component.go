package main

// typePrefix namespaces the bootstrap's component type tokens. Children get
// infra.ChildOptions, like the main program's components.
const typePrefix = "cloudrun-affinity:bootstrap:"

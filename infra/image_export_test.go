package infra

// ForgetBuiltImages empties the per-process image reuse, so that a benchmark measures what a
// new `pulumi preview` process does.
func ForgetBuiltImages() { builtImages.Clear() }

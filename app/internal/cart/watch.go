package cart

import (
	"context"
	"fmt"
)

// Watch calls changed with user's cart as it is now, then again after every change, whichever
// instance in whichever region made it (a Firestore snapshot listener on the user's document),
// until ctx ends, when it returns nil, or the listener fails. Several regions use it for live
// updates: each region's Redis pub/sub reaches only that region's instances.
func (f *Firestore) Watch(ctx context.Context, user string, changed func(Cart)) error {
	if err := checkUser(user); err != nil {
		return err
	}
	it := f.ref(user).Snapshots(ctx)
	defer it.Stop()
	for {
		snap, err := it.Next()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("watch cart: %w", err)
		}
		d, err := read(snap, nil, now())
		if err != nil {
			return fmt.Errorf("watch cart: %w", err)
		}
		changed(d.view())
	}
}

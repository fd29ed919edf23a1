package percpuref

import "context"

// Wait blocks until release has returned, and then returns nil, or until ctx
// is done, and then returns ctx.Err(). If release has already returned, Wait
// returns nil even when ctx is done.
//
// Wait waits for the current life of the Ref: it takes the channel that Done
// returns when Wait is called, so a Reinit that starts a new life while Wait
// is blocked does not keep it waiting for the new life's release; it returns
// when the life it began in has its release return. Wait does not drop any
// reference: the owner still calls Kill, and the holders still call Put.
// Waiting for a Ref that is never killed waits until ctx is done.
//
// A Wait that returns nil returns after release has returned, and
// everything release did happens before it, as for a receive from Done.
func (r *Ref) Wait(ctx context.Context) error {
	done := r.Done()
	select {
	case <-done:
		return nil
	default:
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

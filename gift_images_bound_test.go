package kaquan_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kaquan/kaquan"
)

// TestGift_NewImagesDecodedFew: many gifts racing with new images decode them at most two at a
// time (a decoded picture may take 128 MiB), not one per caller.
func TestGift_NewImagesDecodedFew(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustWorld(t, e, 2, 100_000, 10)
	giftWorld(t, e, w, 0, true)
	c := mustV(e.Claim(ctx, kaquan.Claim{Template: giftTemplate, User: w.users[0]}))(t)
	most := kaquan.SlowImageChecks(e, 20*time.Millisecond)
	const callers = 16
	var wg sync.WaitGroup
	var given atomic.Int32
	for i := range callers {
		img := testPNG(t, 64, 48, byte(i)) // each new
		wg.Go(func() {
			_, err := e.Gift(ctx, kaquan.Gift{From: w.users[0], To: w.users[1], Card: c.Id, Image: img})
			switch {
			case err == nil:
				given.Add(1)
			case !errors.Is(err, kaquan.ErrPermissionDenied): // the card went with the first gift
				t.Errorf("gift %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if given.Load() != 1 {
		t.Errorf("%d gifts of one card went through, want 1", given.Load())
	}
	if got, want := most(), int32(2); got != want {
		t.Errorf("%d image checks at once at the most, want %d", got, want)
	}
}

// TestGift_ImageNotDecodedForAnImpossibleGift: a gift that cannot happen is refused before its
// new image is decoded (a corrupt image shows which came first).
func TestGift_ImageNotDecodedForAnImpossibleGift(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustWorld(t, e, 2, 100_000, 10)
	giftWorld(t, e, w, 0, true)
	corrupt := testPNG(t, 64, 48, 1)
	corrupt = corrupt[:len(corrupt)-40] // the header is sound, the pixels are cut
	if _, err := e.Gift(ctx, kaquan.Gift{From: w.users[0], To: w.users[1], Card: 99_999, Image: corrupt}); !errors.Is(err, kaquan.ErrUnknownEntity) {
		t.Fatalf("gift of an unknown card: %v, want ErrUnknownEntity (before the image is decoded)", err)
	}
	c := mustV(e.Claim(ctx, kaquan.Claim{Template: giftTemplate, User: w.users[0]}))(t)
	if _, err := e.Gift(ctx, kaquan.Gift{From: w.users[1], To: w.users[0], Card: c.Id, Image: corrupt}); !errors.Is(err, kaquan.ErrPermissionDenied) {
		t.Fatalf("gift of another's card: %v, want ErrPermissionDenied", err)
	}
	if _, err := e.Gift(ctx, kaquan.Gift{From: w.users[0], To: w.users[1], Card: c.Id, Image: corrupt}); !errors.Is(err, kaquan.ErrImageInvalid) {
		t.Fatalf("a possible gift with a corrupt image: %v, want ErrImageInvalid", err)
	}
}

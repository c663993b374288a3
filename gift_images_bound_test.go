package kaquan_test

import (
	"errors"
	"sync"
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
	const callers = 16
	cards := make([]uint64, callers) // a card each: every gift can happen, so every image is decoded
	for i := range cards {
		cards[i] = mustV(e.Claim(ctx, kaquan.Claim{Template: giftTemplate, User: w.users[0]}))(t).Id
	}
	most := kaquan.SlowImageChecks(e, 50*time.Millisecond)
	var wg sync.WaitGroup
	for i, id := range cards {
		img := testPNG(t, 64, 48, byte(i)) // each new
		wg.Go(func() {
			if _, err := e.Gift(ctx, kaquan.Gift{From: w.users[0], To: w.users[1], Card: id, Image: img}); err != nil {
				t.Errorf("gift %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if got := most(); got < 1 || got > 2 {
		t.Errorf("%d image checks at once at the most, want 1 or 2 (imageChecksMax)", got)
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

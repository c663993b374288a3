package kaquan_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"bytes"
	"hash/crc32"

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

// TestGift_LargeImageRoundTrips: a 2 MiB image is stored in chunks and read back whole, on disk
// and in memory.
func TestGift_LargeImageRoundTrips(t *testing.T) {
	for name, mode := range map[string]func(*kaquan.Options){"disk": func(*kaquan.Options) {}, "memory": inMemory} {
		t.Run(name, func(t *testing.T) {
			e := MustOpenEngine(t, mode)
			ctx := ctxTimeout(t)
			w := mustWorld(t, e, 2, 0, 10)
			giftWorld(t, e, w, 0, true)
			card := mustClaim(t, e, w.users[0])
			pic := testPNG(t, 720, 720, 7) // noise: just under 2 MiB of PNG
			if len(pic) < 1<<20 {
				t.Fatalf("test image only %d bytes", len(pic))
			}
			if _, err := e.Gift(ctx, kaquan.Gift{From: w.users[0], To: w.users[1], Card: card.Id, Image: pic}); err != nil {
				t.Fatal(err)
			}
			lib, _ := e.GiftLibrary(ctx, card.Id, 0)
			img, err := e.Image(ctx, lib[0].ImageId)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(img.Data, pic) {
				t.Fatalf("image: %d bytes back of %d", len(img.Data), len(pic))
			}
			mustAuditOK(t, e)
		})
	}
}

// setPNGSize rewrites a PNG's IHDR dimensions and fixes the chunk's CRC.
func setPNGSize(p []byte, w, h uint32) {
	be := func(b []byte, v uint32) { b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v) }
	be(p[16:], w)
	be(p[20:], h)
	be(p[29:], crc32.ChecksumIEEE(p[12:29]))
}

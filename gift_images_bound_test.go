package kaquan_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kaquan/kaquan"
)

// bigPNG is a 2048 x 2048 16-bit grey PNG of some KB that decodes to 8 MiB of pixels.
func bigPNG(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray16(image.Rect(0, 0, 2048, 2048))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// withText returns p with a tEXt chunk before IEND: the same picture as other bytes (a new image).
func withText(p []byte, text string) []byte {
	data := append([]byte("Comment\x00"), text...)
	chunk := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	chunk = append(chunk, "tEXt"...)
	chunk = append(chunk, data...)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
	iend := len(p) - 12
	return append(append(append([]byte(nil), p[:iend]...), chunk...), p[iend:]...)
}

// TestGift_NewImagesDecodedFew: many gifts racing with new large images decode at most a few at
// a time, so the heap holds a few decoded pictures, not one per caller.
func TestGift_NewImagesDecodedFew(t *testing.T) {
	e := MustOpenEngine(t)
	ctx := ctxTimeout(t)
	w := mustWorld(t, e, 2, 100_000, 10)
	giftWorld(t, e, w, 0, true)
	c := mustV(e.Claim(ctx, kaquan.Claim{Template: giftTemplate, User: w.users[0]}))(t)
	base := bigPNG(t)
	const callers = 16                               // unbounded, 16 x 8 MiB of pixels at once
	defer debug.SetGCPercent(debug.SetGCPercent(10)) // collect often: the heap then shows what is live
	images := make([][]byte, callers)
	for i := range images {
		images[i] = withText(base, fmt.Sprint("caller ", i))
	}
	runtime.GC()
	var start runtime.MemStats
	runtime.ReadMemStats(&start)
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() { // sample the heap while the gifts run
		var m runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
		}
	}()
	var wg sync.WaitGroup
	var given atomic.Int32
	for i := range callers {
		wg.Go(func() {
			_, err := e.Gift(ctx, kaquan.Gift{From: w.users[0], To: w.users[1], Card: c.Id, Image: images[i]})
			switch {
			case err == nil:
				given.Add(1)
			case !errors.Is(err, kaquan.ErrPermissionDenied): // the card went with the first gift
				t.Errorf("gift %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	close(done)
	if given.Load() != 1 {
		t.Errorf("%d gifts of one card went through, want 1", given.Load())
	}
	grown := int64(peak.Load()) - int64(start.HeapAlloc)
	if limit := int64(8 * 8 << 20); grown > limit { // 2 decodes of 8 MiB, with room for the collector's lag
		t.Errorf("heap grew %d MiB during %d gifts with new images, want under %d MiB", grown>>20, callers, limit>>20)
	}
	t.Logf("heap grew %d MiB at most", grown>>20)
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

package kaquan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/kaquan/kaquan/actors/card"
	"github.com/kaquan/kaquan/messages"
	"github.com/kaquan/kaquan/persistence"
	"google.golang.org/protobuf/proto"
)

// imageChecksMax bounds the new gift images decoded at once: a decoded picture may hold up to
// 128 MiB of pixels (4096 x 4096 at 16 bits a channel) from a 140 KB file.
const imageChecksMax = 2

// giftImage checks a gift's image. Bytes already stored were checked when first stored, so only
// their id is passed on; new bytes are decoded in full, once possible says the gift can happen,
// and travel with the gift to be stored.
func (e *Engine) giftImage(ctx context.Context, data []byte, possible func() error) (string, *card.NewImage, error) {
	if len(data) == 0 {
		return "", nil, nil
	}
	if len(data) > card.ImageBytesMax {
		return "", nil, fmt.Errorf("%w: %d bytes, at most %d", ErrImageTooLarge, len(data), card.ImageBytesMax)
	}
	id := card.ImageID(data)
	known, err := e.store.Has(persistence.ImageKey(id))
	if err != nil || known {
		return id, nil, err
	}
	if err := possible(); err != nil {
		return "", nil, err
	}
	select {
	case e.imageChecks <- struct{}{}:
	case <-ctx.Done():
		return "", nil, ctx.Err()
	}
	img, err := func() (card.Image, error) {
		defer func() { <-e.imageChecks }() // also if a decoder panics
		return e.checkImage(data)
	}()
	if err != nil {
		return "", nil, err
	}
	return id, &card.NewImage{Image: img, Data: data}, nil
}

// Image is a stored gift image.
type Image struct {
	ID            string
	ContentType   string
	Width, Height int
	Data          []byte
}

// Image reads a gift image by id.
func (e *Engine) Image(ctx context.Context, id string) (*Image, error) {
	end, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	if !card.IsImageID(id) {
		return nil, fmt.Errorf("%w: image %q", ErrUnknownEntity, id)
	}
	h := &messages.StoredImage{}
	var data []byte
	err = e.store.View(func(snap *persistence.Snapshot) error {
		if err := snap.GetProto(persistence.ImageKey(id), h); err != nil {
			if errors.Is(err, persistence.ErrNotFound) {
				return fmt.Errorf("%w: image %s", ErrUnknownEntity, id)
			}
			return err
		}
		data = make([]byte, 0, min(h.Size, card.ImageBytesMax))
		for i := range h.Chunks {
			chunk, err := snap.Get(persistence.ImageChunkKey(id, i))
			if err != nil {
				return fmt.Errorf("image %s chunk %d: %w", id, i, err)
			}
			data = append(data, chunk...)
		}
		if int64(len(data)) != h.Size {
			return fmt.Errorf("image %s: %d bytes stored, header says %d", id, len(data), h.Size)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Image{ID: id, ContentType: h.ContentType, Width: int(h.Width), Height: int(h.Height), Data: data}, nil
}

// ImageStats counts the distinct gift images stored and their bytes, and the data folder's size.
type ImageStats struct {
	Images      int64 // distinct images
	StoredBytes int64 // their bytes and records
	DiskBytes   int64 // the whole data folder (0 in memory)
}

// ImageStats measures what gift images take.
func (e *Engine) ImageStats(ctx context.Context) (ImageStats, error) {
	var st ImageStats
	end, err := e.begin(ctx)
	if err != nil {
		return st, err
	}
	defer end()
	err = e.store.View(func(snap *persistence.Snapshot) error {
		return snap.Scan([]byte{persistence.PrefixImage}, func(k, v []byte) (bool, error) {
			h := &messages.StoredImage{}
			if err := proto.Unmarshal(v, h); err != nil {
				return false, fmt.Errorf("image %x: %w", k, err)
			}
			st.Images++
			id := string(k[1:])
			st.StoredBytes += h.Size + int64(len(k)+len(v)) + int64(h.Chunks)*int64(len(persistence.ImageChunkKey(id, 0)))
			return true, nil
		})
	})
	st.DiskBytes = e.diskBytes()
	return st, err
}

// diskBytes sums the sizes of the files in the data folder (Badger's own figure lags by a minute).
func (e *Engine) diskBytes() int64 {
	if e.opts.Durability == persistence.DurabilityMemory {
		return 0
	}
	var n int64
	_ = filepath.WalkDir(e.dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

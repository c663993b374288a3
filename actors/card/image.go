package card

// Gift images, pure: what some bytes are, judged by decoding them, never by a name or a claimed type.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"image/gif"
	_ "image/jpeg" // registers JPEG with image.Decode
	_ "image/png"  // registers PNG

	"github.com/kaquan/kaquan/actors"
	_ "golang.org/x/image/webp" // registers WebP
)

// ImageBytesMax and ImageSideMax bound a gift image.
const (
	ImageBytesMax = 2 << 20 // 2 MiB
	ImageSideMax  = 4096    // pixels, each side
)

// gifPixelsMax bounds the pixels of all a GIF's frames together. gif.DecodeAll keeps every frame,
// and LZW packs a blank 4096 x 4096 frame into 12 KB: 2 MiB of them decoded to 2.9 GiB (measured).
// 8 full-size frames cost what the largest still image does (4096 x 4096 x 8 bytes, 16-bit RGBA).
const gifPixelsMax = 8 * ImageSideMax * ImageSideMax

// Image is a checked image: its id is the hex SHA-256 of its bytes, so the same bytes are one image.
type Image struct {
	ID            string // 64 lowercase hex digits
	ContentType   string // image/png, image/jpeg, image/gif or image/webp
	Width, Height int
}

// ImageID returns the id of data: its hex SHA-256.
func ImageID(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// CheckImage recognises data by decoding it, never by a name or a claimed type. The header's
// dimensions are checked before any pixel is decoded, so a small file declaring a huge picture is
// refused without allocating it; then the whole image is decoded, so truncated or corrupt data is
// refused too.
func CheckImage(data []byte) (Image, error) {
	switch {
	case len(data) == 0:
		return Image{}, fmt.Errorf("%w: empty", actors.ErrImageInvalid)
	case len(data) > ImageBytesMax:
		return Image{}, fmt.Errorf("%w: %d bytes, at most %d", actors.ErrImageTooLarge, len(data), ImageBytesMax)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return Image{}, fmt.Errorf("%w: %v", actors.ErrImageInvalid, err)
	}
	switch {
	case cfg.Width < 1 || cfg.Height < 1:
		return Image{}, fmt.Errorf("%w: %d x %d pixels", actors.ErrImageInvalid, cfg.Width, cfg.Height)
	case cfg.Width > ImageSideMax || cfg.Height > ImageSideMax:
		return Image{}, fmt.Errorf("%w: %d x %d pixels, at most %d a side", actors.ErrImageTooLarge, cfg.Width, cfg.Height, ImageSideMax)
	}
	if format == "gif" {
		// Every frame, not only the first: a corrupt later frame is a corrupt image. Go's decoder
		// refuses frames outside the logical screen, so each is bounded by the check above, and
		// gifPixels bounds them together before DecodeAll allocates them.
		if _, err := gifPixels(data); err != nil {
			return Image{}, err
		}
		_, err = gif.DecodeAll(bytes.NewReader(data))
	} else {
		_, _, err = image.Decode(bytes.NewReader(data))
	}
	if err != nil {
		return Image{}, fmt.Errorf("%w: %v", actors.ErrImageInvalid, err)
	}
	return Image{ID: ImageID(data), ContentType: "image/" + format, Width: cfg.Width, Height: cfg.Height}, nil
}

// gifPixels returns the pixels of all a GIF's frames together, refusing more than gifPixelsMax. It
// walks the blocks without decompressing them, reading each exactly as image/gif does, so that it
// misses no frame that DecodeAll would allocate.
func gifPixels(data []byte) (int64, error) {
	b := data
	skip := func(n int) bool {
		if n > len(b) {
			return false
		}
		b = b[n:]
		return true
	}
	subBlocks := func() bool { // each a size byte and its data, up to a zero size
		for len(b) > 0 {
			n := int(b[0])
			if !skip(1 + n) {
				return false
			}
			if n == 0 {
				return true
			}
		}
		return false
	}
	colorTable := func(flags byte) bool { return flags&0x80 == 0 || skip(3<<(1+flags&7)) }

	ok := skip(13) && colorTable(data[10]) // header and logical screen, global colors
	var pixels int64
	for ok && len(b) > 0 {
		kind := b[0]
		b, ok = b[1:], false
		switch {
		case kind == 0x3b: // trailer: image/gif reads no further
			return pixels, nil
		case kind == 0x2c && len(b) >= 9: // image: left, top, width, height, flags
			w, h, flags := int64(b[4])|int64(b[5])<<8, int64(b[6])|int64(b[7])<<8, b[8]
			if pixels += w * h; pixels > gifPixelsMax {
				return pixels, fmt.Errorf("%w: GIF frames of over %d pixels together", actors.ErrImageTooLarge, gifPixelsMax)
			}
			ok = skip(9) && colorTable(flags) && skip(1) && subBlocks() // then LZW width and data
		case kind == 0x21 && len(b) >= 2: // extension, by its label
			switch b[0] {
			case 0x01: // plain text: image/gif reads 13 bytes, whatever their size byte says
				ok = skip(1+13) && subBlocks()
			case 0xf9: // graphic control: exactly 6 bytes
				ok = skip(1 + 6)
			case 0xfe: // comment
				ok = skip(1) && subBlocks()
			case 0xff: // application: a sized identifier, then sub-blocks
				ok = skip(2+int(b[1])) && subBlocks()
			}
		}
	}
	return pixels, fmt.Errorf("%w: GIF truncated or with an unknown block", actors.ErrImageInvalid)
}

package card

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"image/gif"
	_ "image/jpeg" // registers JPEG with image.Decode
	_ "image/png"  // registers PNG
	"io"

	"github.com/kaquan/kaquan/actors"
	_ "golang.org/x/image/webp" // registers WebP
)

// ImageBytesMax and ImageSideMax bound a gift image.
const (
	ImageBytesMax = 2 << 20 // 2 MiB
	ImageSideMax  = 4096    // pixels, each side
)

// Image is a checked image: its id is the hex SHA-256 of its bytes, so the same bytes are one image.
type Image struct {
	ID            string
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
		// refuses frames outside the logical screen, so they are bounded by the check above.
		_, err = gif.DecodeAll(bytes.NewReader(data))
	} else {
		_, _, err = image.Decode(bytes.NewReader(data))
	}
	if err != nil {
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			err = fmt.Errorf("truncated: %w", err)
		}
		return Image{}, fmt.Errorf("%w: %v", actors.ErrImageInvalid, err)
	}
	return Image{ID: ImageID(data), ContentType: "image/" + format, Width: cfg.Width, Height: cfg.Height}, nil
}
